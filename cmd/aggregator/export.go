package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"aggregator/pipeline"
	"aggregator/publish"
)

const exportHelp = `
Write one merged feed to stdout, exactly as "aggregator serve" serves it, for
static hosting from cron (for example: aggregator fetch && aggregator export
> /var/www/world.xml). With no --output, the first configured output (or
"all" when none is configured).`

func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "export", "[--config feeds.toml] [--db PATH] [--output NAME] [--format rss|atom|json]", exportHelp)
	var cf commonFlags
	cf.register(fs)
	output := fs.String("output", "", "`name` of the output to write")
	format := fs.String("format", "rss", "feed `format`: rss, atom or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f, err := publish.ParseFormat(*format)
	if err != nil {
		return usageErr(fmt.Errorf("--format: %w", err))
	}
	cfg, err := cf.load(e)
	if err != nil {
		return err
	}
	if ok, err := forward(ctx, e, &cf, cfg, append([]string{"export"}, args...)); ok {
		return err
	}
	outs := cfg.outputs()
	name := *output
	if name == "" {
		name = outs[0].Name
	}
	known := false
	for _, o := range outs {
		known = known || o.Name == name
	}
	if !known {
		return usageErr(fmt.Errorf("--output %q: no such output in %s", name, cfg.path))
	}
	db, err := cf.open(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer db.Close()
	h := publish.NewHandler(pipeline.New(db, pipelineOptions(cfg, newLogger(io.Discard, slog.LevelError))), publish.Options{
		BaseURL: cfg.Server.BaseURL,
		Outputs: outs,
		Feeds:   cfg.feeds(),
		Hubs:    cfg.Publish.Hubs,
	})
	return h.Export(ctx, e.stdout, name, f)
}
