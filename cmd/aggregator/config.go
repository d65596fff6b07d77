package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"aggregator"
	"aggregator/fetcher"
)

// Config is feeds.toml, read once at start-up: defaults first, the file over
// them, then validate.
type Config struct {
	Storage StorageConfig  `toml:"storage"`
	Server  ServerConfig   `toml:"server"`
	Fetch   FetchConfig    `toml:"fetch"`
	Dedupe  DedupeConfig   `toml:"dedupe"`
	Publish PublishConfig  `toml:"publish"`
	Fleet   FleetConfig    `toml:"fleet"`
	Feeds   []FeedConfig   `toml:"feeds"`
	Outputs []OutputConfig `toml:"outputs"`

	// path is the file the config was read from, for messages and for
	// resolving a relative storage path.
	path string
	// data is the file as read; lines, where its keys are, is scanned
	// from it when a message first needs a line number (Config.keyLines).
	data  []byte
	lines *keyLines
	// override applies the command line's settings (serve's --listen and
	// --node) over the file's; a reload applies it to the new file too.
	override func(*Config)
}

// StorageConfig is [storage].
type StorageConfig struct {
	Path string `toml:"path"`
	// URL, a postgres:// (or postgresql://) URL, selects PostgreSQL
	// instead of the bbolt file at Path; the DATABASE_URL environment
	// variable sets it when the file does not.
	URL string `toml:"url"`
	// Keep is how long items are kept after they are published and first
	// seen; 0 keeps everything. See storage.DB.Prune.
	Keep Duration `toml:"keep"`
	// KeepPerFeed is how many of each feed's newest items are kept
	// however old.
	KeepPerFeed int `toml:"keep_per_feed"`
}

// ServerConfig is [server].
type ServerConfig struct {
	Listen  string `toml:"listen"`
	BaseURL string `toml:"base_url"`
}

// FetchConfig is [fetch].
type FetchConfig struct {
	Interval     Duration `toml:"interval"`
	MinInterval  Duration `toml:"min_interval"`
	MaxInterval  Duration `toml:"max_interval"`
	Timeout      Duration `toml:"timeout"`
	Concurrency  int      `toml:"concurrency"`
	PerHost      int      `toml:"per_host"`
	HostDelay    Duration `toml:"host_delay"`
	UserAgent    string   `toml:"user_agent"`
	Contact      string   `toml:"contact"`
	MaxBody      ByteSize `toml:"max_body"`
	MaxItems     int      `toml:"max_items"`
	AllowPrivate bool     `toml:"allow_private"`

	// hostDelaySet records that the file sets host_delay: only then does
	// it apply to feeds on this machine too.
	hostDelaySet bool
}

// DedupeConfig is [dedupe].
type DedupeConfig struct {
	Window    Duration `toml:"window"`
	Threshold float64  `toml:"threshold"`
	// MergeClusters is the opposite of pipeline.Options.NoMergeClusters:
	// true by default.
	MergeClusters bool `toml:"merge_clusters"`
}

// PublishConfig is [publish].
type PublishConfig struct {
	Hubs []string `toml:"hubs"`
}

// FleetConfig is [fleet]: this daemon's part in a fleet of daemons on one
// PostgreSQL database (see README, "A fleet").
type FleetConfig struct {
	// Node names this daemon (default: host name and process ID).
	Node string `toml:"node"`
	// Lease is how long a node holds a feed it claimed, and a fetch slot
	// of its host, before another node may take them (default twice
	// [fetch] timeout).
	Lease Duration `toml:"lease"`
}

// FeedConfig is one [[feeds]] table.
type FeedConfig struct {
	Name     string   `toml:"name"`
	URL      string   `toml:"url"`
	Title    string   `toml:"title"`
	Tags     []string `toml:"tags"`
	Interval Duration `toml:"interval"`
}

// OutputConfig is one [[outputs]] table.
type OutputConfig struct {
	Name        string   `toml:"name"`
	Title       string   `toml:"title"`
	Description string   `toml:"description"`
	Icon        string   `toml:"icon"`
	Tags        []string `toml:"tags"`
	Feeds       []string `toml:"feeds"`
	MaxItems    int      `toml:"max_items"`
	MaxAge      Duration `toml:"max_age"`
}

// Duration is a Go duration string in TOML ("30m", "1h30m").
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration: write it like \"90s\", \"30m\" or \"1h30m\"", b)
	}
	d.Duration = v
	return nil
}

// ByteSize is a size in bytes, written as a number or with a unit ("15MiB").
type ByteSize int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *ByteSize) UnmarshalText(b []byte) error {
	v, err := parseByteSize(string(b))
	if err != nil {
		return err
	}
	*s = ByteSize(v)
	return nil
}

func parseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size: write bytes as a number or with a unit, like \"15MiB\"", s)
	}
	return n * mult, nil
}

// defaultConfig is what an empty feeds.toml means.
func defaultConfig() Config {
	return Config{
		Storage: StorageConfig{Path: "aggregator.db", Keep: Duration{90 * 24 * time.Hour}, KeepPerFeed: 50},
		Server:  ServerConfig{Listen: "127.0.0.1:8080"},
		Fetch: FetchConfig{
			Interval:    Duration{30 * time.Minute},
			MinInterval: Duration{5 * time.Minute},
			MaxInterval: Duration{24 * time.Hour},
			Timeout:     Duration{20 * time.Second},
			Concurrency: 16,
			PerHost:     2,
			HostDelay:   Duration{time.Second},
			MaxBody:     15 << 20,
			MaxItems:    fetcher.DefaultMaxItems,
		},
		Dedupe: DedupeConfig{Window: Duration{72 * time.Hour}, MergeClusters: true},
	}
}

// ConfigError is one problem in the config file, located as precisely as
// the file allows.
type ConfigError struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted key, e.g. "fetch.interval" or "feeds[2].url"
	Msg  string
	// err is a sentinel the problem is also known by (errNoFeeds).
	err error
}

// Unwrap returns the sentinel the problem is known by, if any.
func (e *ConfigError) Unwrap() error { return e.err }

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// loadConfig reads and validates the config file at path. A config with
// no feeds is an error (errNoFeeds) that comes with the config.
func loadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file %s does not exist: pass --config with the path of your feeds.toml (the repository has a commented example)", path)
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := parseConfig(path, data)
	if err != nil {
		return nil, err
	}
	if len(cfg.Feeds) == 0 {
		return cfg, &ConfigError{File: path, Msg: noFeedsMsg(data), err: errNoFeeds}
	}
	return cfg, nil
}

// errNoFeeds marks the error of a config that names no feed. loadConfig
// returns it together with the config, which is otherwise valid, for the
// command that can do without feeds (opml import, which adds them).
var errNoFeeds = errors.New("no feeds configured")

func noFeedsMsg(data []byte) string {
	what := "has no [[feeds]] tables"
	if len(scanKeyLines(data).keys) == 0 {
		what = "is empty"
	}
	return what + ": there is nothing to fetch or serve. Add [[feeds]] tables with a name and a url " +
		"(the repository's feeds.toml is a commented example), or import subscriptions with " +
		"aggregator opml import FILE --write"
}

// maxTypeErrors bounds the decoding passes of parseConfig.
const maxTypeErrors = 50

// parseConfig decodes data over the defaults and validates the result.
// The TOML decoder stops at the first value of the wrong type, so each
// such line is reported and blanked and the file decoded again, until
// none is left: every problem is reported at once.
func parseConfig(path string, data []byte) (*Config, error) {
	cfg, md, errs, ok := decodeFast(path, data)
	if !ok {
		var err error
		if cfg, md, errs, err = decodeConfig(path, data); err != nil {
			return nil, err
		}
	}
	cfg.Fetch.hostDelaySet = md.IsDefined("fetch", "host_delay")
	for _, k := range md.Undecoded() {
		key := k.String()
		errs = append(errs, &ConfigError{File: path, Line: cfg.keyLines().first(key), Key: key,
			Msg: "unknown key (misspelt? README lists every key)"})
	}
	errs = append(errs, cfg.validate()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg.fill()
	return &cfg, nil
}

// decodeFast decodes data with its [[feeds]] tables read by fastFeeds,
// and reports whether it could: not when fastFeeds declines, nor when the
// rest of the file has any problem or defines feeds itself (then
// decodeConfig must read all of it, and report what is wrong).
func decodeFast(path string, data []byte) (Config, toml.MetaData, []error, bool) {
	rest, feeds, ok := fastFeeds(data)
	if !ok {
		return Config{}, toml.MetaData{}, nil, false
	}
	cfg := defaultConfig()
	cfg.path = path
	md, err := toml.NewDecoder(bytes.NewReader(rest)).Decode(&cfg)
	if err != nil || md.IsDefined("feeds") || len(md.Undecoded()) > 0 {
		return Config{}, toml.MetaData{}, nil, false
	}
	cfg.Feeds = feeds
	cfg.data = data
	return cfg, md, nil, true
}

// decodeConfig decodes data over the defaults with the TOML decoder
// alone. Values of the wrong type come back as errs with the config;
// err is a problem that leaves no config to validate.
func decodeConfig(path string, data []byte) (cfg Config, md toml.MetaData, errs []error, err error) {
	lines := bytes.Split(data, []byte("\n"))
	for {
		cfg = defaultConfig()
		cfg.path, cfg.data = path, data
		doc := bytes.Join(lines, []byte("\n"))
		var derr error
		md, derr = toml.NewDecoder(bytes.NewReader(doc)).Decode(&cfg)
		if derr == nil {
			break
		}
		var line int
		var pe toml.ParseError
		switch {
		case errors.As(derr, &pe):
			var syntax map[string]any
			if _, serr := toml.Decode(string(doc), &syntax); serr != nil {
				// A syntax error; or, after lines were blanked, one that
				// blanking made (a value over several lines): then report
				// what was found before.
				if len(errs) > 0 {
					return Config{}, md, nil, errors.Join(errs...)
				}
				return Config{}, md, nil, &ConfigError{File: path, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
			}
			// A value our types refuse (a bad duration or size).
			line = pe.Position.Line
			errs = append(errs, &ConfigError{File: path, Line: line, Key: pe.LastKey, Msg: pe.Message})
		default:
			// Type mismatches come as plain errors; their text is the
			// only place the library puts the line and key.
			m := tomlTypeErrRE.FindStringSubmatch(derr.Error())
			if m == nil {
				errs = append(errs, &ConfigError{File: path, Msg: strings.TrimPrefix(derr.Error(), "toml: ")})
				return Config{}, md, nil, errors.Join(errs...)
			}
			line, _ = strconv.Atoi(m[1])
			errs = append(errs, &ConfigError{File: path, Line: line, Key: m[2], Msg: m[3]})
		}
		if line < 1 || line > len(lines) || len(lines[line-1]) == 0 || len(errs) >= maxTypeErrors {
			return Config{}, md, nil, errors.Join(errs...)
		}
		lines[line-1] = nil
	}
	return cfg, md, errs, nil
}

var tomlTypeErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

var outputNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// validate returns every problem it finds, each naming its key and line.
func (c *Config) validate() []error {
	var errs []error
	bad := func(key string, line int, format string, args ...any) {
		errs = append(errs, &ConfigError{File: c.path, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	positive := func(key string, d Duration) {
		if d.Duration <= 0 {
			bad(key, c.keyLines().first(key), "must be a positive duration, got %s", d.Duration)
		}
	}
	positive("fetch.interval", c.Fetch.Interval)
	positive("fetch.timeout", c.Fetch.Timeout)
	positive("fetch.min_interval", c.Fetch.MinInterval)
	positive("fetch.max_interval", c.Fetch.MaxInterval)
	positive("dedupe.window", c.Dedupe.Window)
	if l := c.Fleet.Lease.Duration; l != 0 && l <= c.Fetch.Timeout.Duration {
		bad("fleet.lease", c.keyLines().first("fleet.lease"), "%s is not longer than fetch.timeout (%s): a feed's lease would end while it is fetched, and another node fetch it again", l, c.Fetch.Timeout.Duration)
	}
	if c.Storage.Keep.Duration < 0 {
		bad("storage.keep", c.keyLines().first("storage.keep"), "must not be negative (use \"0s\" to keep everything)")
	}
	if c.Storage.KeepPerFeed < 0 {
		bad("storage.keep_per_feed", c.keyLines().first("storage.keep_per_feed"), "must not be negative, got %d", c.Storage.KeepPerFeed)
	}
	if c.Fetch.MinInterval.Duration > c.Fetch.MaxInterval.Duration {
		bad("fetch.min_interval", c.keyLines().first("fetch.min_interval"), "%s is above fetch.max_interval (%s)", c.Fetch.MinInterval.Duration, c.Fetch.MaxInterval.Duration)
	}
	if c.Fetch.HostDelay.Duration < 0 {
		bad("fetch.host_delay", c.keyLines().first("fetch.host_delay"), "must not be negative (use \"0s\" for no delay)")
	}
	if c.Fetch.Concurrency < 1 {
		bad("fetch.concurrency", c.keyLines().first("fetch.concurrency"), "must be at least 1, got %d", c.Fetch.Concurrency)
	}
	if c.Fetch.PerHost < 1 {
		bad("fetch.per_host", c.keyLines().first("fetch.per_host"), "must be at least 1, got %d", c.Fetch.PerHost)
	}
	if c.Fetch.MaxBody < 1024 {
		bad("fetch.max_body", c.keyLines().first("fetch.max_body"), "must be at least 1KiB, got %d bytes", c.Fetch.MaxBody)
	}
	if c.Fetch.MaxItems < 1 {
		bad("fetch.max_items", c.keyLines().first("fetch.max_items"), "must be at least 1, got %d", c.Fetch.MaxItems)
	}
	if c.Dedupe.Threshold < 0 || c.Dedupe.Threshold > 1 {
		bad("dedupe.threshold", c.keyLines().first("dedupe.threshold"), "must be between 0 and 1 (0 means the built-in default), got %g", c.Dedupe.Threshold)
	}
	if c.Storage.Path == "" {
		bad("storage.path", c.keyLines().first("storage.path"), "must not be empty")
	}
	if c.Storage.URL != "" && !isPostgresURL(c.Storage.URL) {
		bad("storage.url", c.keyLines().first("storage.url"), "%q is not a postgres:// URL (leave it out to use the file at storage.path)", redactURL(c.Storage.URL))
	}
	if c.Server.BaseURL != "" {
		if u, err := url.Parse(c.Server.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("server.base_url", c.keyLines().first("server.base_url"), "%q is not an absolute http(s) URL", c.Server.BaseURL)
		}
	}
	for i, h := range c.Publish.Hubs {
		if !isHTTPURL(h) {
			bad(fmt.Sprintf("publish.hubs[%d]", i), c.keyLines().first("publish.hubs"), "%q is not an absolute http(s) URL", h)
		}
	}

	// A feed's key and line are worked out only for a message: a file of
	// thousands of feeds is valid far more often than not.
	names := make(map[string]int, len(c.Feeds)) // name -> index of its first feed
	tags := map[string]bool{}
	for i, f := range c.Feeds {
		badFeed := func(field, format string, args ...any) {
			bad(fmt.Sprintf("feeds[%d].%s", i, field), c.keyLines().nth("feeds", i), format, args...)
		}
		switch {
		case strings.TrimSpace(f.Name) == "":
			badFeed("name", "every feed needs a name")
		default:
			if prev, dup := names[f.Name]; dup {
				badFeed("name", "duplicate feed name %q (first used at line %d): names must be unique", f.Name, c.keyLines().nth("feeds", prev))
			} else {
				names[f.Name] = i
			}
		}
		if f.URL == "" {
			badFeed("url", "feed %q needs a url", f.Name)
		} else if !isHTTPURL(f.URL) {
			badFeed("url", "feed %q: %q is not an absolute http(s) URL", f.Name, f.URL)
		}
		if f.Interval.Duration < 0 {
			badFeed("interval", "feed %q: interval must be positive", f.Name)
		}
		for _, t := range f.Tags {
			tags[t] = true
		}
	}
	outNames := map[string]bool{}
	for i, o := range c.Outputs {
		badOut := func(field, format string, args ...any) {
			bad(fmt.Sprintf("outputs[%d].%s", i, field), c.keyLines().nth("outputs", i), format, args...)
		}
		if !outputNameRE.MatchString(o.Name) {
			badOut("name", "output name %q must be letters, digits, '-' or '_' (it is used in URLs)", o.Name)
		} else if outNames[o.Name] {
			badOut("name", "duplicate output name %q", o.Name)
		}
		outNames[o.Name] = true
		for _, fn := range o.Feeds {
			if _, ok := names[fn]; !ok {
				badOut("feeds", "output %q names feed %q, which is not configured", o.Name, fn)
			}
		}
		for _, t := range o.Tags {
			if !tags[t] {
				badOut("tags", "output %q selects tag %q, which no feed carries", o.Name, t)
			}
		}
		if o.MaxItems < 0 {
			badOut("max_items", "must not be negative")
		}
		if o.MaxAge.Duration < 0 {
			badOut("max_age", "must not be negative")
		}
	}
	return errs
}

// fill sets values derived from others once the config is valid.
func (c *Config) fill() {
	if c.Server.BaseURL == "" {
		c.Server.BaseURL = "http://" + c.Server.Listen
	}
	c.Server.BaseURL = strings.TrimRight(c.Server.BaseURL, "/")
	for i := range c.Outputs {
		if c.Outputs[i].MaxItems == 0 {
			c.Outputs[i].MaxItems = 100
		}
	}
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// feeds returns the configured feeds as domain values.
func (c *Config) feeds() []aggregator.Feed {
	out := make([]aggregator.Feed, 0, len(c.Feeds))
	for _, f := range c.Feeds {
		out = append(out, aggregator.Feed{Name: f.Name, URL: f.URL, Title: f.Title, Tags: slices.Clone(f.Tags), Interval: f.Interval.Duration})
	}
	return out
}

// outputs returns the configured outputs, or one named "all" merging every
// feed when none is configured.
func (c *Config) outputs() []aggregator.Output {
	if len(c.Outputs) == 0 {
		return []aggregator.Output{{Name: "all", Title: "All stories", Description: "Every configured feed, merged and deduplicated", MaxItems: 100}}
	}
	out := make([]aggregator.Output, 0, len(c.Outputs))
	for _, o := range c.Outputs {
		out = append(out, aggregator.Output{Name: o.Name, Title: o.Title, Description: o.Description, Icon: o.Icon,
			Tags: slices.Clone(o.Tags), Feeds: slices.Clone(o.Feeds), MaxItems: o.MaxItems, MaxAge: o.MaxAge.Duration})
	}
	return out
}

// keyLines returns where the file's keys are, scanning it the first time.
func (c *Config) keyLines() *keyLines {
	if c.lines == nil {
		kl := scanKeyLines(c.data)
		c.lines = &kl
	}
	return c.lines
}

// keyLines maps dotted keys ("fetch.interval", "feeds.url") to the lines
// they appear on, and array tables ("feeds") to the lines of their headers,
// so that errors can point at the file. BurntSushi/toml does not expose key
// positions, and a line scanner is enough for the flat files we accept.
type keyLines struct {
	keys   map[string][]int
	tables map[string][]int
}

func (k keyLines) first(key string) int {
	if l := k.keys[key]; len(l) > 0 {
		return l[0]
	}
	return 0
}

// nth is the header line of the i-th [[name]] table.
func (k keyLines) nth(name string, i int) int {
	if l := k.tables[name]; i < len(l) {
		return l[i]
	}
	return 0
}

func scanKeyLines(data []byte) keyLines {
	kl := keyLines{keys: map[string][]int{}, tables: map[string][]int{}}
	table := ""
	for i, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "" || strings.HasPrefix(t, "#"):
		case strings.HasPrefix(t, "[["):
			name := strings.TrimSpace(strings.Trim(strings.SplitN(t, "]]", 2)[0], "[ "))
			table = name
			kl.tables[name] = append(kl.tables[name], i+1)
		case strings.HasPrefix(t, "["):
			table = strings.TrimSpace(strings.Trim(strings.SplitN(t, "]", 2)[0], "[ "))
		default:
			eq := strings.IndexByte(t, '=')
			if eq <= 0 {
				continue
			}
			key := strings.Trim(strings.TrimSpace(t[:eq]), `"'`)
			if table != "" {
				key = table + "." + key
			}
			kl.keys[key] = append(kl.keys[key], i+1)
		}
	}
	return kl
}

// isPostgresURL reports whether u names a PostgreSQL database.
func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// redactURL is u without its password, for messages.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
