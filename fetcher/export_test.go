package fetcher

import "net/netip"

// TreatAsPublic makes c treat addresses in p as public, so that tests can
// play a "public" server on a loopback address (there is no internet).
func TreatAsPublic(c *Client, p netip.Prefix) { c.public = append(c.public, p) }

// DialCheckOnly leaves private-address refusal to the dialer alone.
func DialCheckOnly(c *Client) { c.dialCheckOnly = true }
