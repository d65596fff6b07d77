package pipeline

import (
	"fmt"
	"slices"
	"time"

	"aggregator"
	"aggregator/dedupe"
)

// Merging clusters. One pass over the items leaves a big story that split
// early in two or more big clusters (dedupe/doc.go, "Merging clusters"),
// so the pipeline (unless Options.NoMergeClusters) calls
// dedupe.Index.Consolidate on the clusters that
// items joined since the last call, sorted (which makes the merges
// independent of the order items of one time came in).
//
// When it calls it is decided by the items alone, never by where a batch
// of pending items ends: before adding an item whose time lies in another
// mergeEpoch (a UTC day) than the item added before it. Consolidating at
// the end of each batch would make the stories depend on how the items
// were split into passes, rounds of the daemon, chunks and fleet
// leaders, which every restart test and serve-vs-fetch comparison rules
// out; so the state that carries over between batches (the epoch of the
// last item added and the clusters touched since the last call: merger)
// is part of the index's state, saved with it and rebuilt by the cluster
// log's replay. The price is that the newest day's clusters merge only
// once an item of the next day is clustered. A day is what was measured
// (scripts/dedupe-cv consolidates at each change of date, and these sets
// carry only dates); every 256 items gathered a little less (README).
//
// A merge moves every member the index holds of the smaller cluster into
// the larger one: each moved item gets a membership naming the survivor
// (ReasonMerged, Matched the cluster it left), in the batch's Decisions
// at the point of the call, before the decision on the item that made
// it; the stores move an item whose membership names another cluster and
// drop a cluster left empty, applying a batch's memberships in order (an
// item that joined a cluster in the batch that then merged is in the
// batch twice). The cluster log keeps the memberships in that order,
// which is what lets a replay repeat the merges (replayLogRecord): a
// logged membership of an item the index holds in another cluster can
// only be a merge, and merging the two clusters there, in log order,
// gives the index the deciding process had. A rebuild from the store
// needs no merge (the moved memberships are stored); it guesses the
// merger's state from the stored items of the newest epoch, like the
// rest of a rebuild an approximation of the deciding index.
//
// Members of the smaller cluster that the index no longer holds (older
// than its horizon, two windows before the newest item) stay in the
// stored cluster: the index cannot vouch for them, and the store keeps
// them as the older part of the story under its old ID.

// mergeEpoch is the span of item time after which the clusters touched
// are consolidated (see above).
const mergeEpoch = 24 * time.Hour

func epochOf(t time.Time) time.Time { return t.UTC().Truncate(mergeEpoch) }

// mergeOptions returns how the pipeline merges clusters, nil when it
// does not.
func (o *Options) mergeOptions() *dedupe.MergeOptions {
	if o.NoMergeClusters {
		return nil
	}
	return &o.Merge
}

// merger is the consolidation state that carries over between batches:
// the epoch of the last item added (zero: none yet) and the clusters
// items joined since the last consolidation, unsorted, with repeats.
type merger struct {
	epoch   time.Time
	touched []string
}

// next is called before an item of time t is added (not for an item the
// index already holds): when t starts another epoch and merge is set, it
// consolidates the clusters touched in ix and returns ms with the moves
// appended (see consolidate). With merge nil it only updates the state,
// as a replay does (the moves are in the log).
func (mg *merger) next(ix *dedupe.Index, t time.Time, ms []aggregator.Membership, reps map[string]string, now time.Time, merge *dedupe.MergeOptions) []aggregator.Membership {
	e := epochOf(t)
	if !mg.epoch.IsZero() && !e.Equal(mg.epoch) && len(mg.touched) > 0 {
		if merge != nil {
			ms = consolidate(ix, *merge, mg.touched, ms, reps, now)
		}
		mg.touched = mg.touched[:0]
	}
	mg.epoch = e
	return ms
}

// consolidate merges clusters in ix among those named in touched, by o, and
// returns ms with a membership appended for each item a merge moved, in
// the order of the merges; it sets each surviving cluster's
// representative in reps and drops those of the clusters merged away.
func consolidate(ix *dedupe.Index, o dedupe.MergeOptions, touched []string, ms []aggregator.Membership, reps map[string]string, now time.Time) []aggregator.Membership {
	ids := slices.Compact(slices.Sorted(slices.Values(touched)))
	merges := ix.Consolidate(o, ids)
	for _, mg := range merges {
		for _, item := range mg.Moved {
			ms = append(ms, aggregator.Membership{
				Item: item, Cluster: mg.Into, Reason: aggregator.ReasonMerged,
				Matched: mg.From, Score: mg.Score, Joined: now,
			})
		}
		delete(reps, mg.From)
	}
	for _, mg := range merges {
		if rep, ok := ix.Representative(mg.Into); ok {
			reps[mg.Into] = rep
		}
	}
	return ms
}

// addPrepared adds items (prepared as prepared) to ix in order,
// consolidating by merge (nil: never) where mg says, and returns their
// memberships, with the moves of any merge, and the representatives that
// changed, by cluster.
func addPrepared(ix *dedupe.Index, mg *merger, merge *dedupe.MergeOptions, items []aggregator.Item, prepared []dedupe.Prepared, now time.Time) ([]aggregator.Membership, map[string]string) {
	ms := make([]aggregator.Membership, 0, len(prepared))
	reps := map[string]string{}
	for i, pr := range prepared {
		_, known := ix.ClusterOf(items[i].ID)
		if !known {
			ms = mg.next(ix, items[i].Time(), ms, reps, now, merge)
		}
		m, rep := ix.AddPrepared(pr)
		ms = append(ms, m)
		if rep != "" {
			reps[m.Cluster] = rep
		}
		if !known {
			mg.touched = append(mg.touched, m.Cluster)
		}
	}
	return ms, reps
}

// replayLogRecord applies one record of the cluster log to ix and mg as
// addPrepared did: the decisions on items the index does not hold are
// restored, and a membership of an item it holds in another cluster
// repeats the merge that moved it (see above). prepared is rec.Items
// prepared. It returns how many items it restored.
func replayLogRecord(ix *dedupe.Index, mg *merger, rec aggregator.LogRecord, prepared []dedupe.Prepared) (int, error) {
	restored := 0
	for i, m := range rec.Memberships {
		cur, ok := ix.ClusterOf(m.Item)
		if !ok {
			mg.next(ix, rec.Items[i].Time(), nil, nil, time.Time{}, nil)
			ix.RestorePrepared(prepared[i], m)
			mg.touched = append(mg.touched, m.Cluster)
			restored++
			continue
		}
		if cur == m.Cluster {
			continue // known, or moved with an earlier member of the merge
		}
		if err := ix.MergeClusters(m.Cluster, cur); err != nil {
			return restored, fmt.Errorf("log record %d: item %s: %w", rec.Seq, m.Item, err)
		}
	}
	return restored, nil
}
