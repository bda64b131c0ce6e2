package auditstream

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// maxAttrDepth bounds the nesting of lists and maps a stream image may have
// (DynamoDB allows 32 levels).
const maxAttrDepth = 32

// ItemFromStream converts a stream image as Lambda delivers it (aws-lambda-go
// events) into the SDK's attribute values, so that the codecs written for
// the tables (attributevalue, EventFromItem) read stream images too. A value
// the events package cannot hold is an error, never a panic.
func ItemFromStream(img map[string]events.DynamoDBAttributeValue) (item map[string]types.AttributeValue, err error) {
	if img == nil {
		return nil, nil
	}
	// The events accessors panic on a type mismatch and on a zero value;
	// a record that makes them do so is a poison record, not a crash.
	defer func() {
		if r := recover(); r != nil {
			item, err = nil, fmt.Errorf("stream image: unreadable attribute value: %v", r)
		}
	}()
	item = make(map[string]types.AttributeValue, len(img))
	for k, v := range img {
		av, err := attrFromStream(v, 0)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		item[k] = av
	}
	return item, nil
}

func attrFromStream(v events.DynamoDBAttributeValue, depth int) (types.AttributeValue, error) {
	if depth > maxAttrDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxAttrDepth)
	}
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		l := v.List()
		out := make([]types.AttributeValue, len(l))
		for i, e := range l {
			av, err := attrFromStream(e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = av
		}
		return &types.AttributeValueMemberL{Value: out}, nil
	case events.DataTypeMap:
		m := v.Map()
		out := make(map[string]types.AttributeValue, len(m))
		for k, e := range m {
			av, err := attrFromStream(e, depth+1)
			if err != nil {
				return nil, fmt.Errorf(".%s: %w", k, err)
			}
			out[k] = av
		}
		return &types.AttributeValueMemberM{Value: out}, nil
	}
	return nil, fmt.Errorf("unknown attribute type %v", v.DataType())
}

// plainItem returns item as JSON-ready Go values (numbers keep their text).
func plainItem(item map[string]types.AttributeValue) map[string]any {
	if item == nil {
		return nil
	}
	out := make(map[string]any, len(item))
	for k, v := range item {
		out[k] = plainValue(v)
	}
	return out
}

func plainValue(v types.AttributeValue) any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return json.Number(v.Value)
	case *types.AttributeValueMemberBOOL:
		return v.Value
	case *types.AttributeValueMemberNULL:
		return nil
	case *types.AttributeValueMemberB:
		return base64.StdEncoding.EncodeToString(v.Value)
	case *types.AttributeValueMemberSS:
		return slices.Clone(v.Value)
	case *types.AttributeValueMemberNS:
		out := make([]json.Number, len(v.Value))
		for i, n := range v.Value {
			out[i] = json.Number(n)
		}
		return out
	case *types.AttributeValueMemberBS:
		out := make([]string, len(v.Value))
		for i, b := range v.Value {
			out[i] = base64.StdEncoding.EncodeToString(b)
		}
		return out
	case *types.AttributeValueMemberL:
		out := make([]any, len(v.Value))
		for i, e := range v.Value {
			out[i] = plainValue(e)
		}
		return out
	case *types.AttributeValueMemberM:
		return plainItem(v.Value)
	}
	return nil
}

// show renders an attribute value for a one-line diff: strings bare (quoted
// when empty or padded), lists as [a, b], maps as {k: v} with sorted keys.
func show(v types.AttributeValue) string {
	switch v := v.(type) {
	case nil:
		return "(none)"
	case *types.AttributeValueMemberS:
		if v.Value == "" || strings.TrimSpace(v.Value) != v.Value || strings.ContainsAny(v.Value, "\n\r\t,[]{}") {
			return strconv.Quote(v.Value)
		}
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	case *types.AttributeValueMemberBOOL:
		return strconv.FormatBool(v.Value)
	case *types.AttributeValueMemberNULL:
		return "null"
	case *types.AttributeValueMemberB:
		return fmt.Sprintf("(%d bytes)", len(v.Value))
	case *types.AttributeValueMemberSS:
		return showList(v.Value)
	case *types.AttributeValueMemberNS:
		return showList(v.Value)
	case *types.AttributeValueMemberBS:
		return fmt.Sprintf("(set of %d binary values)", len(v.Value))
	case *types.AttributeValueMemberL:
		parts := make([]string, len(v.Value))
		for i, e := range v.Value {
			parts[i] = show(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case *types.AttributeValueMemberM:
		keys := slices.Sorted(maps.Keys(v.Value))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + show(v.Value[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return "(unknown)"
}

func showList(l []string) string {
	parts := make([]string, len(l))
	for i, s := range l {
		parts[i] = show(&types.AttributeValueMemberS{Value: s})
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// str returns item[name] when it is a string, else "".
func str(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// boolean returns item[name] when it is a boolean, else false (absent is false).
func boolean(item map[string]types.AttributeValue, name string) bool {
	if b, ok := item[name].(*types.AttributeValueMemberBOOL); ok {
		return b.Value
	}
	return false
}

// stringList returns the strings of a list or string set attribute.
func stringList(item map[string]types.AttributeValue, name string) []string {
	switch v := item[name].(type) {
	case *types.AttributeValueMemberSS:
		return v.Value
	case *types.AttributeValueMemberL:
		var out []string
		for _, e := range v.Value {
			out = append(out, show(e))
		}
		return out
	}
	return nil
}
