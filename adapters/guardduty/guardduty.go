// Package guardduty reads the verdicts of Amazon GuardDuty Malware
// Protection for S3. GuardDuty scans every new object version under the
// protected (quarantine) prefix and sends an "Object Scan Result" event to
// EventBridge; the Lambda entry point decodes it here into a
// domain.ScanVerdict for the uploads use cases. (The same verdict is also
// written as the object tag ports.ScanStatusTag, which the reconciler reads
// through the object store.)
//
// Decoding is lenient, since AWS adds fields and real events omit some that
// the documentation shows (s3Throttled, statusReasons, threats may be null):
// unknown fields are ignored, and only what a verdict cannot do without is
// required. Values are passed on as they came, without interpretation: the
// domain fails closed on anything it does not know.
package guardduty

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gatehouse/gatehouse/domain"
)

// What identifies a GuardDuty Malware Protection for S3 scan result.
const (
	Source               = "aws.guardduty"
	DetailType           = "GuardDuty Malware Protection Object Scan Result"
	ResourceTypeS3Object = "S3_OBJECT"
)

// Decode errors. Both are wrapped in a domain.KindInvalid error (retrying
// cannot help): the Lambda logs and acknowledges such events rather than
// having them delivered again.
var (
	// ErrForeignEvent: the event is not a GuardDuty Malware Protection
	// object scan result (another source, detail type or resource type).
	ErrForeignEvent = errors.New("not a GuardDuty Malware Protection object scan result")
	// ErrMalformedEvent: the event says it is a scan result but cannot be
	// read as one (not JSON, or no bucket, key or result).
	ErrMalformedEvent = errors.New("malformed GuardDuty object scan result")
)

// Codes of the decode errors.
const (
	CodeForeignEvent   = "foreign_event"
	CodeMalformedEvent = "malformed_event"
)

// maxNames bounds the threat names and status reasons kept from one event.
const maxNames = 100

// envelope is the part of an EventBridge event Decode needs. It is read
// instead of events.EventBridgeEvent so that a malformed field Decode does
// not need (such as time) cannot make a verdict unreadable.
type envelope struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

// detail is the detail of a scan result event, as far as a verdict needs it.
type detail struct {
	ScanStatus      string  `json:"scanStatus"`
	ResourceType    *string `json:"resourceType"`
	S3ObjectDetails *struct {
		BucketName string `json:"bucketName"`
		ObjectKey  string `json:"objectKey"`
		ETag       string `json:"eTag"`
		VersionID  string `json:"versionId"`
	} `json:"s3ObjectDetails"`
	ScanResultDetails *struct {
		ScanResultStatus string   `json:"scanResultStatus"`
		Threats          nameList `json:"threats"`
		StatusReasons    nameList `json:"statusReasons"`
	} `json:"scanResultDetails"`
}

// nameList reads a list of names leniently: null, a string, or an array of
// strings or of objects with a "name"; anything else in it is skipped, and
// a value of another shape is an empty list rather than an error.
type nameList []string

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (l *nameList) UnmarshalJSON(b []byte) error {
	*l = nil
	var one string
	if json.Unmarshal(b, &one) == nil {
		l.add(one)
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(b, &items) != nil {
		return nil
	}
	for _, it := range items {
		one = "" // a null item leaves its target untouched
		var named struct {
			Name string `json:"name"`
		}
		switch {
		case json.Unmarshal(it, &one) == nil:
			l.add(one)
		case json.Unmarshal(it, &named) == nil:
			l.add(named.Name)
		}
	}
	return nil
}

func (l *nameList) add(s string) {
	if s != "" && len(*l) < maxNames {
		*l = append(*l, s)
	}
}

func foreign(format string, args ...any) error {
	return &domain.Error{Kind: domain.KindInvalid, Code: CodeForeignEvent, Op: "guardduty.Decode",
		Msg: "The event is not a GuardDuty object scan result.", Err: fmt.Errorf("%w: "+format, append([]any{ErrForeignEvent}, args...)...)}
}

func malformed(format string, args ...any) error {
	return &domain.Error{Kind: domain.KindInvalid, Code: CodeMalformedEvent, Op: "guardduty.Decode",
		Msg: "The GuardDuty object scan result cannot be read.", Err: fmt.Errorf("%w: "+format, append([]any{ErrMalformedEvent}, args...)...)}
}

// Decode reads a GuardDuty object scan result from the raw EventBridge
// event (as a Lambda receives it, or as an SQS message body carries it).
// An event of another source, detail type or resource type is an error
// wrapping ErrForeignEvent; one that cannot be read as a scan result, an
// error wrapping ErrMalformedEvent. Both are domain.KindInvalid.
func Decode(raw []byte) (domain.ScanVerdict, error) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return domain.ScanVerdict{}, malformed("event is not a JSON object: %v", err)
	}
	return decode(env.Source, env.DetailType, env.Detail)
}

// DecodeEvent is Decode for an event aws-lambda-go has already parsed.
func DecodeEvent(ev events.EventBridgeEvent) (domain.ScanVerdict, error) {
	return decode(ev.Source, ev.DetailType, ev.Detail)
}

func decode(source, detailType string, raw json.RawMessage) (domain.ScanVerdict, error) {
	if source != Source {
		return domain.ScanVerdict{}, foreign("source %q", source)
	}
	if detailType != DetailType {
		return domain.ScanVerdict{}, foreign("detail-type %q", detailType)
	}
	var d detail
	if err := json.Unmarshal(raw, &d); err != nil {
		// A field of an unexpected type is skipped, not fatal: what is
		// needed is checked below.
		var typeErr *json.UnmarshalTypeError
		if !errors.As(err, &typeErr) {
			return domain.ScanVerdict{}, malformed("detail is not a JSON object: %v", err)
		}
	}
	if d.ResourceType != nil && *d.ResourceType != ResourceTypeS3Object {
		return domain.ScanVerdict{}, foreign("resourceType %q", *d.ResourceType)
	}
	obj, res := d.S3ObjectDetails, d.ScanResultDetails
	switch {
	case obj == nil || obj.BucketName == "" || obj.ObjectKey == "":
		return domain.ScanVerdict{}, malformed("no s3ObjectDetails.bucketName or objectKey")
	case res == nil || res.ScanResultStatus == "":
		return domain.ScanVerdict{}, malformed("no scanResultDetails.scanResultStatus")
	}
	return domain.ScanVerdict{
		Bucket:     obj.BucketName,
		Key:        obj.ObjectKey,
		VersionID:  obj.VersionID,
		ETag:       obj.ETag,
		ScanStatus: d.ScanStatus,
		Result:     res.ScanResultStatus,
		Threats:    []string(res.Threats),
		Reasons:    []string(res.StatusReasons),
	}, nil
}

// Encode returns the EventBridge event GuardDuty would send with verdict v,
// with event id id at time at. It is the inverse of Decode, for tests and
// for a local scanner standing in for GuardDuty.
func Encode(v domain.ScanVerdict, id string, at time.Time) ([]byte, error) {
	type threat struct {
		Name string `json:"name"`
	}
	threats := []threat(nil)
	for _, name := range v.Threats {
		threats = append(threats, threat{Name: name})
	}
	d := map[string]any{
		"schemaVersion": "1.0",
		"scanStatus":    v.ScanStatus,
		"resourceType":  ResourceTypeS3Object,
		"s3ObjectDetails": map[string]any{
			"bucketName":  v.Bucket,
			"objectKey":   v.Key,
			"eTag":        v.ETag,
			"versionId":   v.VersionID,
			"s3Throttled": false,
		},
		"scanResultDetails": map[string]any{
			"scanResultStatus": v.Result,
			"threats":          threats,
			"statusReasons":    v.Reasons,
		},
	}
	body, err := json.Marshal(d)
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, "guardduty.Encode", err)
	}
	out, err := json.Marshal(events.EventBridgeEvent{
		Version:    "0",
		ID:         id,
		DetailType: DetailType,
		Source:     Source,
		Time:       at.UTC(),
		Resources:  []string{},
		Detail:     body,
	})
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, "guardduty.Encode", err)
	}
	return out, nil
}
