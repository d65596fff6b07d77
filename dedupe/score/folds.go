package score

import (
	"hash/fnv"
	"math/rand/v2"
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
	stories, size := bySize(items, seed)
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

// bySize returns the items' stories, largest first (ties broken by a
// hash of the story and seed), and each story's size.
func bySize(items []Item, seed uint64) ([]string, map[string]int) {
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
	return stories, size
}

// StratifiedFolds splits the items into k folds by story, like [Folds],
// but stratified by story size: the stories, largest first (ties broken
// by a hash of the story and seed), are taken k at a time, and each such
// block of k stories of about one size is dealt one to each fold in a
// seeded random order. Every fold therefore gets one story of each size
// block (the same number of huge stories, to within one), and which of a
// block's stories it gets depends on the seed, where Folds' greedy
// dealing gives nearly the same folds whatever the seed. It returns each
// item's fold, by item ID; the same items, k and seed always give the
// same folds.
func StratifiedFolds(items []Item, k int, seed uint64) map[string]int {
	stories, _ := bySize(items, seed)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	foldOf := map[string]int{}
	perm := make([]int, k)
	for i, s := range stories {
		if i%k == 0 {
			for j := range perm {
				perm[j] = j
			}
			r.Shuffle(k, func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
		}
		foldOf[s] = perm[i%k]
	}
	out := make(map[string]int, len(items))
	for _, it := range items {
		out[it.ID] = foldOf[it.Story]
	}
	return out
}
