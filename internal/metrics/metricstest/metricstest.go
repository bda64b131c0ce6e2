// Package metricstest reads Embedded Metric Format lines back for tests,
// checking each against the rules CloudWatch applies before it extracts a
// metric (a line breaking one is kept as a log line and publishes nothing).
package metricstest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
)

// Line is one EMF line: its metric values by name, the dimensions each
// metric is published under, and every other field.
type Line struct {
	Values     map[string]float64
	Dimensions map[string][][]string // metric name -> dimension sets
	Fields     map[string]any
}

// Parse reads every line of text that holds an "_aws" member and checks it
// against the EMF specification: a millisecond Timestamp, at most 100
// metrics a directive, at most 30 dimensions a set, each dimension a string
// member of the line and each metric a number member (or a list of up to 100
// numbers). Other lines (plain log lines) are skipped.
func Parse(text string) ([]Line, error) {
	var out []Line
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Bytes()
		if !strings.Contains(string(raw), `"_aws"`) {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("line %d: not one JSON object: %v", n, err)
		}
		l, err := check(obj)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v: %s", n, err, raw)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

func check(obj map[string]any) (Line, error) {
	l := Line{Values: map[string]float64{}, Dimensions: map[string][][]string{}, Fields: obj}
	meta, ok := obj["_aws"].(map[string]any)
	if !ok {
		return l, fmt.Errorf("_aws is not an object")
	}
	if ts, ok := meta["Timestamp"].(float64); !ok || ts < 1e12 || ts != float64(int64(ts)) {
		return l, fmt.Errorf("_aws.Timestamp %v is not epoch milliseconds", meta["Timestamp"])
	}
	dirs, ok := meta["CloudWatchMetrics"].([]any)
	if !ok || len(dirs) == 0 {
		return l, fmt.Errorf("_aws.CloudWatchMetrics is not a non-empty array")
	}
	for i, d := range dirs {
		dir, ok := d.(map[string]any)
		if !ok {
			return l, fmt.Errorf("directive %d is not an object", i)
		}
		if ns, ok := dir["Namespace"].(string); !ok || ns == "" || len(ns) > 255 {
			return l, fmt.Errorf("directive %d: Namespace %v", i, dir["Namespace"])
		}
		var sets [][]string
		dims, _ := dir["Dimensions"].([]any)
		for _, s := range dims {
			set, _ := s.([]any)
			if len(set) > 30 {
				return l, fmt.Errorf("directive %d: a dimension set of %d (at most 30)", i, len(set))
			}
			var names []string
			for _, k := range set {
				name, _ := k.(string)
				if v, ok := obj[name].(string); !ok || v == "" {
					return l, fmt.Errorf("directive %d: dimension %q is not a non-empty string member", i, name)
				}
				names = append(names, name)
			}
			sets = append(sets, names)
		}
		ms, ok := dir["Metrics"].([]any)
		if !ok || len(ms) == 0 || len(ms) > 100 {
			return l, fmt.Errorf("directive %d: Metrics must hold 1 to 100 metrics", i)
		}
		for _, m := range ms {
			def, _ := m.(map[string]any)
			name, _ := def["Name"].(string)
			v, ok := obj[name].(float64)
			if name == "" || !ok {
				return l, fmt.Errorf("directive %d: metric %q has no number member", i, name)
			}
			l.Values[name] = v
			l.Dimensions[name] = append(l.Dimensions[name], sets...)
		}
	}
	return l, nil
}
