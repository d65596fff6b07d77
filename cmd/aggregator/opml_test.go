package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"aggregator/publish"
)

const testOPML = `<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="World">
      <outline type="rss" text="Already here" xmlUrl="https://a.example/feed"/>
      <outline type="rss" text="Second Outlet" title="Second Outlet" xmlUrl="https://b.example/rss.xml" htmlUrl="https://b.example/"/>
    </outline>
    <outline type="rss" text="Third" xmlUrl="https://c.example/atom"/>
  </body>
</opml>`

func TestOPMLImportExport(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "feeds.toml")
	original := "# my feeds, with a comment to keep\n[[feeds]]\nname = \"a\" # inline comment\nurl = \"https://a.example/feed\"\n"
	if err := os.WriteFile(cfg, []byte(original), 0o644); err != nil {
		t.Fatal(err)
	}
	opml := filepath.Join(dir, "subs.opml")
	if err := os.WriteFile(opml, []byte(testOPML), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	out, errOut, code := runCmd(t, ctx, "opml", "import", opml, "--config", cfg)
	if code != 0 {
		t.Fatalf("opml import: exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "[[feeds]]"); n != 2 {
		t.Errorf("import printed %d [[feeds]] tables, want 2 (one is configured already):\n%s", n, out)
	}
	for _, want := range []string{"https://b.example/rss.xml", "https://c.example/atom", `"World"`} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %s:\n%s", want, out)
		}
	}
	if b, _ := os.ReadFile(cfg); string(b) != original {
		t.Error("import without --write changed the config")
	}

	if _, errOut, code := runCmd(t, ctx, "opml", "import", "--write", "--config", cfg, opml); code != 0 {
		t.Fatalf("opml import --write: exit %d: %s", code, errOut)
	}
	b, _ := os.ReadFile(cfg)
	if !strings.HasPrefix(string(b), original) {
		t.Errorf("--write did not keep the file as it was (comments included):\n%s", b)
	}
	loaded, err := loadConfig(cfg)
	if err != nil {
		t.Fatalf("config after --write does not load: %v", err)
	}
	if len(loaded.Feeds) != 3 {
		t.Errorf("config has %d feeds after import, want 3", len(loaded.Feeds))
	}
	// A second import adds nothing.
	out, _, _ = runCmd(t, ctx, "opml", "import", "--write", "--config", cfg, opml)
	if !strings.Contains(out, "nothing to add") {
		t.Errorf("second import: %s", out)
	}

	out, errOut, code = runCmd(t, ctx, "opml", "export", "--config", cfg)
	if code != 0 {
		t.Fatalf("opml export: exit %d: %s", code, errOut)
	}
	feeds, err := publish.ReadOPML(strings.NewReader(out))
	if err != nil {
		t.Fatalf("exported OPML does not read back: %v\n%s", err, out)
	}
	if len(feeds) != 3 {
		t.Errorf("exported %d feeds, want 3", len(feeds))
	}
}

// TestOPMLImportRefusesOtherSchemes: outlines whose URL is not http(s)
// are skipped with a warning naming them, never offered as feeds; an
// empty config takes the rest with --write.
func TestOPMLImportRefusesOtherSchemes(t *testing.T) {
	const doc = `<?xml version="1.0"?><opml version="2.0"><body>
<outline type="rss" text="Good" xmlUrl="https://good.example/feed"/>
<outline type="rss" text="Script" xmlUrl="javascript:alert(1)"/>
<outline type="rss" text="Archive" xmlUrl="ftp://files.example/feed.xml"/>
<outline type="rss" text="Relative" xmlUrl="/feed.xml"/>
</body></opml>`
	dir := t.TempDir()
	cfg := filepath.Join(dir, "feeds.toml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	opml := filepath.Join(dir, "subs.opml")
	if err := os.WriteFile(opml, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCmd(t, t.Context(), "opml", "import", opml, "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "[[feeds]]"); n != 1 || !strings.Contains(out, "https://good.example/feed") || !strings.Contains(out, "3 skipped: not http(s)") {
		t.Errorf("output:\n%s", out)
	}
	for _, bad := range []string{"javascript:", "ftp:", "/feed.xml"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s offered as a feed:\n%s", bad, out)
		}
	}
	for _, want := range []string{`skipping outline "Script": "javascript:alert(1)"`, `skipping outline "Archive": "ftp://files.example/feed.xml"`, `skipping outline "Relative"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("warnings lack %s:\n%s", want, errOut)
		}
	}
	if _, errOut, code := runCmd(t, t.Context(), "opml", "import", "--write", opml, "--config", cfg); code != 0 {
		t.Fatalf("--write into an empty config: exit %d: %s", code, errOut)
	}
	loaded, err := loadConfig(cfg)
	if err != nil || len(loaded.Feeds) != 1 {
		t.Fatalf("after --write: %v, %+v", err, loaded)
	}
}

// TestOPMLImportQuoting: titles and URLs with quotes, backslashes and
// characters Go's quoting escapes (DEL as \x7f, which TOML 1.1 reads)
// come out as TOML that loads back to the same text.
func TestOPMLImportQuoting(t *testing.T) {
	const doc = `<opml version="2.0"><body>
<outline text="Say &quot;hi&quot; \ back&#127;slash" xmlUrl="https://q.example/feed?a=&quot;b&quot;"/>
</body></opml>`
	feeds, err := publish.ReadOPML(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig("feeds.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	tables, added, _, _ := opmlTables(io.Discard, cfg, feeds, "subs.opml")
	loaded, err := parseConfig("feeds.toml", tables)
	if err != nil || added != 1 || len(loaded.Feeds) != 1 {
		t.Fatalf("tables do not load (%v):\n%s", err, tables)
	}
	if got, want := loaded.Feeds[0].Title, "Say \"hi\" \\ back\x7fslash"; got != want {
		t.Errorf("title %q, want %q", got, want)
	}
	if got, want := loaded.Feeds[0].URL, `https://q.example/feed?a="b"`; got != want {
		t.Errorf("url %q, want %q", got, want)
	}
}
