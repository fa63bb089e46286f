// dashcheck strict-decodes Grafana dashboard JSON files with the Grafana Foundation SDK
// (github.com/grafana/grafana-foundation-sdk/go, Apache-2.0): no unknown field, no wrong type,
// every panel type and every query type one the SDK knows (so nothing falls back to a loose,
// untyped decode), then the SDK's own Validate().
//
//	dashcheck FILE...
//
// Prints one line per file ("ok FILE: N panels, M queries" or "FAIL FILE: ...") and exits 1
// if any file fails.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

func check(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var d dashboard.Dashboard
	if err := real(d.UnmarshalJSONStrict(raw)); err != nil {
		return "", fmt.Errorf("strict decode: %w", err)
	}
	if err := real(d.Validate()); err != nil {
		return "", fmt.Errorf("validate: %w", err)
	}
	// The SDK's PanelOrRowPanel decoder drops the decoded panel (it takes its own empty
	// error for a failure and returns early), so the panels are decoded one by one here.
	var top struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return "", err
	}
	panels, queries := 0, 0
	var walk func(raws []json.RawMessage) error
	walk = func(raws []json.RawMessage) error {
		for _, r := range raws {
			var head struct {
				Type    string            `json:"type"`
				Panels  []json.RawMessage `json:"panels"`
				Options json.RawMessage   `json:"options"`
				Targets []json.RawMessage `json:"targets"`
			}
			if err := json.Unmarshal(r, &head); err != nil {
				return err
			}
			if head.Type == "row" {
				var row dashboard.RowPanel
				if err := real(row.UnmarshalJSONStrict(r)); err != nil {
					return fmt.Errorf("row: %w", err)
				}
				if err := walk(head.Panels); err != nil {
					return err
				}
				continue
			}
			var p dashboard.Panel
			if err := real(p.UnmarshalJSONStrict(r)); err != nil {
				return fmt.Errorf("panel: %w", err)
			}
			panels++
			if _, ok := cog.ConfigForPanelcfgVariant(p.Type); !ok {
				return fmt.Errorf("panel %q: type %q is not a panel type the SDK knows", deref(p.Title), p.Type)
			}
			// Options are checked against the panel type's own schema only when present.
			if len(head.Options) == 0 {
				return fmt.Errorf("panel %q: no options (nothing to check against the %s schema)", deref(p.Title), p.Type)
			}
			// Each query on its own: the type named by its datasource must be one the SDK
			// has a strict decoder for (else it would be an untyped bag of fields).
			for i, t := range head.Targets {
				queries++
				dq, err := cog.StrictUnmarshalDataquery(t, "")
				if _, unknown := dq.(variants.UnknownDataquery); unknown {
					return fmt.Errorf("panel %q: target %d has no query type the SDK knows (datasource.type missing or unknown)", deref(p.Title), i)
				}
				if err := real(err); err != nil {
					return fmt.Errorf("panel %q: target %d: %w", deref(p.Title), i, err)
				}
			}
		}
		return nil
	}
	if err := walk(top.Panels); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d panels, %d queries, %d variables", panels, queries, len(d.Templating.List)), nil
}

// real drops the SDK's "no error": its decoders return an empty cog.BuildErrors as a non-nil error.
func real(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func main() {
	plugins.RegisterDefaultPlugins()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dashcheck FILE...")
		os.Exit(2)
	}
	failed := false
	for _, f := range os.Args[1:] {
		msg, err := check(f)
		if err != nil {
			failed = true
			fmt.Printf("FAIL %s: %v\n", f, err)
		} else {
			fmt.Printf("ok %s: %s\n", f, msg)
		}
	}
	if failed {
		os.Exit(1)
	}
}
