package score

import (
	"hash/fnv"
	"slices"
	"strconv"
)

// Folds splits the items into k folds by story, for story-disjoint
// cross-validation: every story's items fall in one fold. Stories are
// dealt largest first (ties broken by a hash of the story and seed) to
// the fold with the fewest items so far, so folds get a similar mix of
// big and small stories. It returns each item's fold, by item ID; the
// same items, k and seed always give the same folds.
func Folds(items []Item, k int, seed uint64) map[string]int {
	size := map[string]int{}
	for _, it := range items {
		size[it.Story]++
	}
	key := func(s string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(strconv.FormatUint(seed, 10) + "\x00" + s))
		return h.Sum64()
	}
	stories := make([]string, 0, len(size))
	for s := range size {
		stories = append(stories, s)
	}
	slices.SortFunc(stories, func(a, b string) int {
		if size[a] != size[b] {
			return size[b] - size[a]
		}
		ka, kb := key(a), key(b)
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	load := make([]int, k)
	foldOf := map[string]int{}
	for _, s := range stories {
		f := 0
		for i := range load {
			if load[i] < load[f] {
				f = i
			}
		}
		foldOf[s] = f
		load[f] += size[s]
	}
	out := make(map[string]int, len(items))
	for _, it := range items {
		out[it.ID] = foldOf[it.Story]
	}
	return out
}
