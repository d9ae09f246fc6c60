package httpapi

import (
	"math"
	"net/http"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/platform"
	"github.com/vsrp-dev/vsrp/store"
)

// notificationView is a webhook delivery as operators see it (no body, no secret).
type notificationView struct {
	ID            string  `json:"id"`
	AppID         string  `json:"appId"`
	RewardID      string  `json:"rewardId"`
	URL           string  `json:"url"`
	Status        string  `json:"status"`
	Attempts      int     `json:"attempts"`
	NextAttemptAt *string `json:"nextAttemptAt"`
	LastError     string  `json:"lastError"`
	LastStatus    int     `json:"lastStatus"`
	CreatedAt     string  `json:"createdAt"`
	DeliveredAt   *string `json:"deliveredAt"`
}

func (a *API) notificationView(n *store.Notification) notificationView {
	v := notificationView{ID: n.ID, AppID: n.AppID, RewardID: n.RewardID, URL: n.URL, Status: n.Status, Attempts: n.Attempts,
		LastError: n.LastError, LastStatus: n.LastStatus, CreatedAt: a.datetime(n.CreatedAt), DeliveredAt: a.nullableTime(n.DeliveredAt)}
	if n.Status == store.NotificationPending {
		v.NextAttemptAt = a.nullableTime(n.NextAttemptAt)
	}
	return v
}

func (a *API) listNotifications(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var ve vsrp.ValidationError
	// One answer lists every bad parameter, not just the first (contract 9).
	platform.CheckNotificationStatus(q.Get("status"), &ve)
	limit, offset := intQuery(q, "limit", 0, 1, 1000, &ve), intQuery(q, "offset", 0, 0, math.MaxInt32, &ve)
	if err := ve.Err(); err != nil {
		a.adminFail(w, r, err)
		return
	}
	ns, total, err := a.p.Notifications(r.Context(), q.Get("status"), limit, offset)
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	out := make([]notificationView, len(ns))
	for i, n := range ns {
		out[i] = a.notificationView(n)
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": total, "notifications": out})
}

func (a *API) redeliver(w http.ResponseWriter, r *http.Request) {
	n, err := a.p.Redeliver(r.Context(), r.PathValue("id"))
	if err != nil {
		a.adminFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.notificationView(n))
}
