package score

import (
	"bytes"
	"fmt"
	"html"
	"time"
)

// RSS renders items as one outlet's RSS 2.0 feed named title, the way the
// end-to-end runs serve the labelled data: the data's id as the GUID, the
// lead (when there is one) as the description, the published time as
// pubDate.
func RSS(title string, items []Item) []byte {
	esc := html.EscapeString
	var b bytes.Buffer
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>%s</title><link>https://example.org/</link><description>labelled data</description>\n", esc(title))
	for _, it := range items {
		fmt.Fprintf(&b, "<item><title>%s</title><link>%s</link><guid isPermaLink=\"false\">%s</guid>", esc(it.Title), esc(it.URL), esc(it.ID))
		if it.Summary != "" {
			fmt.Fprintf(&b, "<description>%s</description>", esc(it.Summary))
		}
		fmt.Fprintf(&b, "<pubDate>%s</pubDate></item>\n", it.Published.Format(time.RFC1123Z))
	}
	b.WriteString("</channel></rss>\n")
	return b.Bytes()
}

// ByOutlet groups items by their outlet (Item.Source), each outlet's in
// the order given; outlets lists the outlets in the order of their first
// item, which is how the end-to-end runs number their feeds.
func ByOutlet(items []Item) (outlets []string, by map[string][]Item) {
	by = map[string][]Item{}
	for _, it := range items {
		if _, ok := by[it.Source]; !ok {
			outlets = append(outlets, it.Source)
		}
		by[it.Source] = append(by[it.Source], it)
	}
	return outlets, by
}
