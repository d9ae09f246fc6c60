package store

import "sync"

// enrollmentCache remembers the campaigns of cards, as of one version of the enrollments (the
// total of the groups' counts). A new version empties it; so does reaching its bound, which
// keeps its memory flat however many cards ingestion sees.
type enrollmentCache struct {
	mu      sync.Mutex
	version int64
	cards   map[string][]CardCampaign
}

const enrollmentCacheBound = 250_000

// get answers the remembered campaigns of the cards at the version, and the cards it does not
// know.
func (c *enrollmentCache) get(version int64, cardIDs []string) (map[string][]CardCampaign, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version != c.version {
		c.version, c.cards = version, nil
	}
	out := make(map[string][]CardCampaign, len(cardIDs))
	var missing []string
	for _, id := range cardIDs {
		if cc, ok := c.cards[id]; ok {
			out[id] = cc
		} else {
			missing = append(missing, id)
		}
	}
	return out, missing
}

// put remembers the campaigns of the cards (none for a card absent from read), read at the
// version.
func (c *enrollmentCache) put(version int64, cardIDs []string, read map[string][]CardCampaign) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version != c.version {
		return
	}
	if c.cards == nil || len(c.cards)+len(cardIDs) > enrollmentCacheBound {
		c.cards = make(map[string][]CardCampaign, len(cardIDs))
	}
	for _, id := range cardIDs {
		c.cards[id] = read[id]
	}
}
