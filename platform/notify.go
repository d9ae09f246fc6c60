package platform

import (
	"context"
	"errors"
	"time"

	"github.com/vsrp-dev/vsrp"
	"github.com/vsrp-dev/vsrp/notify"
	"github.com/vsrp-dev/vsrp/store"
)

// SetNotifier tells the platform whom to wake after it commits notifications, so the first
// attempt leaves at once instead of at the next poll.
func (p *Platform) SetNotifier(wake func()) { p.wake = wake }

func (p *Platform) wakeNotifier() {
	if p.wake != nil {
		p.wake()
	}
}

// enqueueIssued writes, in the transaction that moved the reward to 4, one notification for
// every app to tell (contract 7): granted the campaign, with one of the reward's cards bound
// to a user, a notification URL, and not the app that reported the 4 itself.
func (p *Platform) enqueueIssued(tx *store.Tx, rs *store.RewardState, reporter string, now time.Time) error {
	apps, err := tx.Recipients(rs.ID, rs.CampaignID, reporter)
	if err != nil {
		return err
	}
	for _, a := range apps {
		if err := tx.Enqueue(&store.Notification{AppID: a.AppID, RewardID: rs.ID, URL: a.NotifyURL, CreatedAt: now}); err != nil {
			return err
		}
	}
	return nil
}

// CheckNotificationStatus adds a problem to ve unless status names a delivery status ("" for
// all): a caller checking other parameters too lists every problem in one answer.
func CheckNotificationStatus(status string, ve *vsrp.ValidationError) {
	switch status {
	case "", store.NotificationPending, store.NotificationDelivered, store.NotificationFailed:
	default:
		ve.Add("status", "must be pending, delivered or failed")
	}
}

// Notifications lists webhook deliveries for operators, in a status ("" for all).
func (p *Platform) Notifications(ctx context.Context, status string, limit, offset int) ([]*store.Notification, int, error) {
	var ve vsrp.ValidationError
	CheckNotificationStatus(status, &ve)
	if err := ve.Err(); err != nil {
		return nil, 0, err
	}
	ns, total, err := p.store.ListNotifications(ctx, status, limit, offset)
	return ns, total, storeErr(err)
}

// Redeliver sends a notification again, with the same webhook-id and a fresh retry schedule.
func (p *Platform) Redeliver(ctx context.Context, id string) (*store.Notification, error) {
	if err := p.store.Redeliver(ctx, id, p.now()); err != nil {
		if errors.Is(err, vsrp.ErrNotFound) {
			return nil, err
		}
		return nil, storeErr(err)
	}
	p.wakeNotifier()
	n, err := p.store.Notification(ctx, id)
	return n, storeErr(err)
}

// AppWebhookTarget answers where the app's webhooks go now and their signing secrets (for the
// notifier), from one read of the app; a permanent failure when the app is disabled, has no
// notifyUrl or no longer exists.
func (p *Platform) AppWebhookTarget(ctx context.Context, appID string) (notify.Target, error) {
	a, err := p.store.App(ctx, appID)
	switch {
	case errors.Is(err, vsrp.ErrNotFound):
		return notify.Target{}, notify.Permanent(errors.New("the app no longer exists"))
	case err != nil:
		return notify.Target{}, storeErr(err)
	case !a.Enabled:
		return notify.Target{}, notify.Permanent(errors.New("the app is disabled"))
	case a.NotifyURL == "":
		return notify.Target{}, notify.Permanent(errors.New("the app has no notifyUrl"))
	}
	secrets, err := p.WebhookSecrets(a)
	if err != nil {
		return notify.Target{}, err
	}
	return notify.Target{URL: a.NotifyURL, Secrets: secrets}, nil
}
