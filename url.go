package aggregator

import (
	"net/url"
	"sort"
	"strings"
)

// trackingParams are query parameters that identify the click, not the page.
var trackingParams = map[string]bool{
	"fbclid": true, "gclid": true, "dclid": true, "gbraid": true, "wbraid": true,
	"msclkid": true, "mc_cid": true, "mc_eid": true, "igshid": true, "yclid": true,
	"_ga": true, "_gl": true, "_hsenc": true, "_hsmi": true, "mkt_tok": true,
	"oly_anon_id": true, "oly_enc_id": true, "rb_clickid": true, "s_cid": true,
	"vero_conv": true, "vero_id": true, "wt_mc": true, "wt.mc_id": true,
	"ncid": true, "cmpid": true, "ocid": true, "sr_share": true, "ref_src": true,
	"at_medium": true, "at_campaign": true, "cmp": true, "icid": true,
	"spm": true,
}

// trackingPrefixes are prefixes of tracking parameter families.
var trackingPrefixes = []string{"utm_", "pk_", "mtm_", "hsa_", "__hs", "at_"}

func isTracking(key string) bool {
	k := strings.ToLower(key)
	if trackingParams[k] {
		return true
	}
	for _, p := range trackingPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// CanonicalURL returns raw in a canonical form, so that links to the same
// article compare equal: scheme and host lower-cased, default ports and the
// fragment dropped, tracking parameters (utm_*, fbclid, gclid and the like)
// removed and the remaining query sorted, an empty path made "/". It
// returns "" for an empty or unparsable link and raw itself (trimmed) for
// links that are not http(s) or have no host.
func CanonicalURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		// Not a web link (or a broken one, "http:x"): kept as published.
		return raw
	}
	u.Host = canonicalHost(u.Scheme, u.Host)
	if u.Hostname() == "" {
		return raw
	}
	u.Fragment, u.RawFragment = "", ""
	u.User = nil
	if u.Path == "" {
		u.Path = "/"
		u.RawPath = ""
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if isTracking(k) {
				delete(q, k)
			}
		}
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			vs := q[k]
			sort.Strings(vs)
			for _, v := range vs {
				if b.Len() > 0 {
					b.WriteByte('&')
				}
				b.WriteString(url.QueryEscape(k))
				b.WriteByte('=')
				b.WriteString(url.QueryEscape(v))
			}
		}
		u.RawQuery = b.String()
	}
	u.ForceQuery = false
	return u.String()
}

// canonicalHost lower-cases a URL's host, drops the root dot of a fully
// qualified name (and any more dots there) and the scheme's default port.
func canonicalHost(scheme, hostport string) string {
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		host, port = hostport[:i], hostport[i+1:]
	}
	host = strings.TrimRight(strings.ToLower(host), ".")
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		port = ""
	}
	if port == "" && !strings.HasSuffix(hostport, ":") {
		return host
	}
	return host + ":" + port
}
