package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	gold := filepath.Join(dir, "gold.jsonl")
	os.WriteFile(gold, []byte(`{"id":"g1","story":"s1","source":"A","published":"2014-03-11T12:00:00Z"}
{"id":"g2","story":"s1","source":"B","published":"2014-03-11T12:00:00Z"}
{"id":"g3","story":"s2","source":"A","published":"2014-03-12T12:00:00Z"}
`), 0o644)
	clusters := filepath.Join(dir, "clusters.jsonl")
	os.WriteFile(clusters, []byte(`{"id":"c1","items":[{"feed":"A","id":"g1"},{"feed":"B","id":"g2"}]}
{"id":"c2","items":[{"feed":"A","id":"g3"},{"feed":"C","id":"unlabelled"}]}
`), 0o644)
	var out bytes.Buffer
	if err := run([]string{"-gold", gold, "-clusters", clusters, "-date-split"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"plain        pairwise P/R/F1 1.000 / 1.000 / 1.000", "date-split", "(3 items)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run([]string{"-clusters", clusters}, &out); err == nil {
		t.Error("got no error without -gold")
	}
}
