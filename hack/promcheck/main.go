// Command promcheck validates the PrometheusRule in config/monitoring with Prometheus's own rule-file parser
// (model/rulefmt, which parses every expression with the PromQL parser and checks labels, annotations and
// templates), the same code `promtool check rules` runs, without promtool's heavy dependency tree.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// prometheusRule is the part of a monitoring.coreos.com/v1 PrometheusRule that holds a Prometheus rule file.
type prometheusRule struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Groups []any `yaml:"groups"`
	} `yaml:"spec"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: promcheck <prometheusrule.yaml>...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		rules, err := check(path)
		if err != nil {
			failed = true
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			continue
		}
		fmt.Printf("%s: SUCCESS: %d rules found\n", path, rules)
	}
	if failed {
		os.Exit(1)
	}
}

func check(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var pr prometheusRule
	if err := yaml.Unmarshal(data, &pr); err != nil {
		return 0, err
	}
	if pr.Kind != "PrometheusRule" {
		return 0, fmt.Errorf("kind %q, want PrometheusRule", pr.Kind)
	}
	file, err := yaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
	if err != nil {
		return 0, err
	}
	groups, errs := rulefmt.Parse(file, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		msg := ""
		for _, e := range errs {
			msg += "\n  " + e.Error()
		}
		return 0, fmt.Errorf("invalid rules:%s", msg)
	}
	n := 0
	for _, g := range groups.Groups {
		n += len(g.Rules)
	}
	return n, nil
}
