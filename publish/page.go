package publish

import (
	"html/template"
	"io"
	"strings"
	"time"

	"aggregator"
)

// pageTemplate is the web page of one output: the merged stories newest
// first, each with its outlets and times. It needs no JavaScript and no
// external resources; the inline style keeps it readable on a phone.
const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
{{- if .Description}}
<meta name="description" content="{{.Description}}">
{{- end}}
{{- range .Alternates}}
<link rel="alternate" type="{{.Type}}" title="{{.Title}}" href="{{.Href}}">
{{- end}}
<style>
:root{color-scheme:light dark;--muted:#666;--line:#ddd;--accent:#0b57d0}
@media (prefers-color-scheme:dark){:root{--muted:#aaa;--line:#333;--accent:#8ab4f8}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:46rem;padding:1rem;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;overflow-wrap:break-word}
a{color:var(--accent)}
header{border-bottom:1px solid var(--line);margin-bottom:1rem}
h1{font-size:1.5rem;margin:.2rem 0}
nav ul,.subscribe{list-style:none;padding:0;margin:.5rem 0;display:flex;flex-wrap:wrap;gap:.4rem 1rem}
.story{border-bottom:1px solid var(--line);padding:.6rem 0 .8rem}
.story h2{font-size:1.15rem;margin:0 0 .2rem}
.meta,.outlets,footer{color:var(--muted);font-size:.9rem}
.summary img{max-width:100%;height:auto}
.outlets{margin:.3rem 0 0;padding-left:1.2rem}
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
{{- if .Description}}
<p>{{.Description}}</p>
{{- end}}
<ul class="subscribe" aria-label="Subscribe">
{{- range .Subscribe}}
<li><a rel="alternate" type="{{.Type}}" href="{{.Href}}">{{.Label}}</a></li>
{{- end}}
<li><a href="{{.OPML}}">OPML (all subscriptions)</a></li>
</ul>
{{- if gt (len .Outputs) 1}}
<nav aria-label="Outputs"><ul>
{{- range .Outputs}}
<li>{{if .Current}}<strong>{{.Title}}</strong>{{else}}<a href="{{.Href}}">{{.Title}}</a>{{end}}</li>
{{- end}}
</ul></nav>
{{- end}}
</header>
<main>
{{- range .Stories}}
<article class="story" id="{{.Anchor}}">
<h2><a href="{{.Link}}">{{.Title}}</a></h2>
<p class="meta"><time datetime="{{.Published.Format "2006-01-02T15:04:05Z07:00"}}">{{.Published.Format "2 Jan 2006 15:04 UTC"}}</time>
{{- if .Changed}} · updated <time datetime="{{.Updated.Format "2006-01-02T15:04:05Z07:00"}}">{{.Updated.Format "2 Jan 15:04 UTC"}}</time>{{end}}
 · {{len .Members}} {{if eq (len .Members) 1}}outlet{{else}}outlets{{end}}</p>
{{- if .Summary}}
<div class="summary">{{.Summary}}</div>
{{- end}}
<ul class="outlets">
{{- range .Members}}
<li>{{if .URL}}<a class="outlet" href="{{.URL}}">{{.FeedTitle}}</a>{{else}}<span class="outlet">{{.FeedTitle}}</span>{{end}}
{{- if .Title}}: {{.Title}}{{end}}
{{- if not .Published.IsZero}} · <time datetime="{{.Published.Format "2006-01-02T15:04:05Z07:00"}}">{{.Published.Format "2 Jan 15:04"}}</time>{{end}}</li>
{{- end}}
</ul>
</article>
{{- else}}
<p>No stories yet.</p>
{{- end}}
</main>
<footer>
<p>{{len .Stories}} stories{{if not .Updated.IsZero}}, last change {{.Updated.Format "2 Jan 2006 15:04 UTC"}}{{end}}. Merged and deduplicated by aggregator.</p>
</footer>
</body>
</html>
`

type pageLink struct{ Type, Title, Href, Label string }

type pageOutput struct {
	Title, Href string
	Current     bool
}

type pageStory struct {
	entry
	Anchor  string
	Summary template.HTML
	Changed bool
}

type pageData struct {
	Title, Description string
	Updated            time.Time
	Alternates         []pageLink
	Subscribe          []pageLink
	OPML               string
	Outputs            []pageOutput
	Stories            []pageStory
}

// writePage renders the page of output out.
func (h *Handler) writePage(w io.Writer, out aggregator.Output, meta Meta, entries []entry) error {
	tmpl, err := template.New("page").Parse(pageTemplate)
	if err != nil {
		return err
	}
	d := pageData{
		Title:       meta.Title,
		Description: meta.Description,
		Updated:     meta.Updated,
		OPML:        h.opts.BaseURL + "/feeds.opml",
	}
	// Autodiscovery: the current output first, so readers given the page
	// subscribe to what the visitor was looking at.
	ordered := []aggregator.Output{out}
	for _, o := range h.opts.Outputs {
		if o.Name != out.Name {
			ordered = append(ordered, o)
		}
	}
	for _, o := range ordered {
		title := o.Title
		if title == "" {
			title = o.Name
		}
		for _, f := range formats {
			l := pageLink{Type: strings.TrimSuffix(f.ContentType(), "; charset=utf-8"), Title: title + " (" + f.label() + ")", Href: h.feedURL(o.Name, f), Label: f.label()}
			d.Alternates = append(d.Alternates, l)
			if o.Name == out.Name {
				d.Subscribe = append(d.Subscribe, l)
			}
		}
	}
	for _, o := range h.opts.Outputs {
		title := o.Title
		if title == "" {
			title = o.Name
		}
		d.Outputs = append(d.Outputs, pageOutput{Title: title, Href: h.pageURL(o.Name), Current: o.Name == out.Name})
	}
	for _, e := range entries {
		d.Stories = append(d.Stories, pageStory{
			entry: e,
			// The summary passed the sanitiser's allowlist.
			Summary: template.HTML(e.SummaryHTML),
			Anchor:  "story-" + strings.TrimPrefix(e.ID, idPrefix),
			Changed: e.Updated.After(e.Published.Add(time.Minute)),
		})
	}
	return tmpl.Execute(w, d)
}
