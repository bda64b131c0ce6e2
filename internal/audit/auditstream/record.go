package auditstream

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/tables"
)

// Kinds of stream record, as DecodeRecord sorts them.
const (
	// RecordToolCall is a new tool-call item in the audit table: logged and counted.
	RecordToolCall = "tool_call"
	// RecordPolicyChange is any change to a policy-table item: logged with its diff.
	RecordPolicyChange = "policy_change"
	// RecordAuditModified is a tool-call item changed after it was written
	// (only a hand edit does that): logged as a warning.
	RecordAuditModified = "audit_item_modified"
	// RecordAuditDeleted is a tool-call item deleted other than by its TTL:
	// logged as a warning.
	RecordAuditDeleted = "audit_item_deleted"
	// RecordIgnored is a record with nothing to audit: the audit function's
	// own markers and rollups, and tool-call items expiring by TTL.
	RecordIgnored = "ignored"
)

// StreamTables names the two tables whose streams the audit function reads;
// a record's table comes from its event source ARN.
type StreamTables struct {
	Audit, Policy string
}

// Record is one decoded stream record.
type Record struct {
	Kind           string
	EventID        string
	SequenceNumber string
	// Time is the stream's approximate creation time of the record (zero
	// when the record has none).
	Time time.Time
	// ToolCall is set for RecordToolCall.
	ToolCall *audit.Event
	// Policy is set for RecordPolicyChange.
	Policy *PolicyChange
	// ItemID is the audit item's id (RecordAuditModified, RecordAuditDeleted).
	ItemID string
	// Image is the changed audit item as it is now (RecordAuditModified).
	Image map[string]any
	// Why says why a record is ignored.
	Why string
}

// DecodeRecord reads one stream record of the audit or the policy table. An
// error means the record cannot be processed however often it is retried
// (a poison record): no event id, an unknown table or operation, an
// unreadable image, a tool-call item that does not decode.
func DecodeRecord(rec events.DynamoDBEventRecord, t StreamTables) (Record, error) {
	r := Record{EventID: rec.EventID, SequenceNumber: rec.Change.SequenceNumber, Time: rec.Change.ApproximateCreationDateTime.Time}
	if rec.EventID == "" {
		return r, errors.New("stream record without an eventID (the idempotency key)")
	}
	op := rec.EventName
	if op != streamInsert && op != streamModify && op != streamRemove {
		return r, fmt.Errorf("stream record %s: unknown eventName %q", rec.EventID, op)
	}
	keys, err := ItemFromStream(rec.Change.Keys)
	if err != nil {
		return r, fmt.Errorf("stream record %s: keys: %w", rec.EventID, err)
	}
	newImg, err := ItemFromStream(rec.Change.NewImage)
	if err != nil {
		return r, fmt.Errorf("stream record %s: new image: %w", rec.EventID, err)
	}
	oldImg, err := ItemFromStream(rec.Change.OldImage)
	if err != nil {
		return r, fmt.Errorf("stream record %s: old image: %w", rec.EventID, err)
	}
	switch table := StreamTable(rec.EventSourceArn); {
	case table == "":
		return r, fmt.Errorf("stream record %s: event source ARN %q names no table", rec.EventID, rec.EventSourceArn)
	case table == t.Audit:
		err = decodeAudit(&r, rec, op, keys, newImg)
	case table == t.Policy:
		err = decodePolicy(&r, op, keys, oldImg, newImg)
	default:
		err = fmt.Errorf("table %q is neither the audit table %q nor the policy table %q", table, t.Audit, t.Policy)
	}
	if err != nil {
		return r, fmt.Errorf("stream record %s: %w", rec.EventID, err)
	}
	return r, nil
}

func decodeAudit(r *Record, rec events.DynamoDBEventRecord, op string, keys, newImg map[string]types.AttributeValue) error {
	id := str(keys, tables.AuditID)
	if id == "" {
		id = str(newImg, tables.AuditID)
	}
	if id == "" {
		return errors.New("audit item without a string id")
	}
	r.ItemID = id
	if strings.HasPrefix(id, SeenPrefix) || strings.HasPrefix(id, UsagePrefix) {
		r.Kind, r.Why = RecordIgnored, "the audit function's own item"
		return nil
	}
	switch op {
	case streamInsert:
		if newImg == nil {
			return fmt.Errorf("audit item %s: INSERT without a new image (the stream must be NEW_IMAGE)", id)
		}
		e, err := audit.EventFromItem(newImg)
		if err != nil {
			return err
		}
		if e.ID != id {
			return fmt.Errorf("audit item key %q and id %q differ", id, e.ID)
		}
		r.Kind, r.ToolCall = RecordToolCall, &e
	case streamModify:
		r.Kind, r.Image = RecordAuditModified, plainItem(newImg)
	case streamRemove:
		if u := rec.UserIdentity; u != nil && u.Type == "Service" && u.PrincipalID == "dynamodb.amazonaws.com" {
			r.Kind, r.Why = RecordIgnored, "expired (TTL)"
			return nil
		}
		r.Kind = RecordAuditDeleted
	}
	return nil
}

func decodePolicy(r *Record, op string, keys, oldImg, newImg map[string]types.AttributeValue) error {
	pk, sk := str(keys, tables.PolicyPK), str(keys, tables.PolicySK)
	if sk == "" {
		img := newImg
		if img == nil {
			img = oldImg
		}
		pk, sk = str(img, tables.PolicyPK), str(img, tables.PolicySK)
	}
	if sk == "" {
		return errors.New("policy item without a string sort key")
	}
	if pk != tables.PolicyPartition {
		sk = pk + "/" + sk // not the policy partition: reported as an unknown item
	}
	c := DescribePolicyChange(op, sk, oldImg, newImg)
	r.Kind, r.Policy = RecordPolicyChange, &c
	return nil
}

// StreamTable returns the table name in a stream ARN
// (arn:aws:dynamodb:region:account:table/NAME/stream/LABEL), or "".
func StreamTable(arn string) string {
	_, rest, ok := strings.Cut(arn, ":table/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}
