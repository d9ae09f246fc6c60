package e2e

import (
	"strings"
	"time"
)

// openCampaign answers a campaign document for card aggregation in CNY at Asia/Shanghai, from
// 40 days before now to 40 days after, with one group open from an hour before now for a day
// (EG- and the campaign's id without CMP-) and the offers given. A test changes what else it needs.
func openCampaign(id string, now time.Time, offers ...map[string]any) map[string]any {
	return map[string]any{"campaignId": id, "name": id, "timezone": "Asia/Shanghai",
		"startDate": now.AddDate(0, 0, -40).Format(time.DateOnly), "endDate": now.AddDate(0, 0, 40).Format(time.DateOnly),
		"currency": "CNY", "aggregation": "card",
		"enrollmentGroups": []any{map[string]any{"enrollmentGroupId": "EG-" + strings.TrimPrefix(id, "CMP-"), "name": "g",
			"enrollStart": now.Add(-time.Hour).Format(time.RFC3339), "enrollEnd": now.Add(24 * time.Hour).Format(time.RFC3339),
			"capacity": 0, "eligibility": map[string]any{}}},
		"offers": offers,
	}
}

// monthlyOffer answers an offer billed monthly with the match, goal and reward given.
func monthlyOffer(id string, match, goal, reward map[string]any) map[string]any {
	return map[string]any{"offerId": id, "name": "offer " + id, "billing": map[string]any{"period": "month"},
		"match": match, "goal": goal, "reward": reward}
}

// each is the goal of an offer that rewards every counting purchase.
var each = map[string]any{"type": "each"}
