package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
)

// The saved copy of the dedupe index lives in the database, so that every
// process of a fleet can load it: a head row (size and chunk count) and
// the bytes in chunks of indexChunk, numbered from 0. SaveIndex replaces
// head and chunks in one transaction, so readers see the old copy or the
// new one; a reader reads in one read-only snapshot, one chunk per query,
// holding no more than a chunk in memory.

// indexChunk is the size of the saved index's chunks: big enough that a
// copy of hundreds of megabytes is hundreds of rows, small enough that
// one row costs little memory on either side.
const indexChunk = 1 << 20

// OpenSavedIndex opens the saved copy of the dedupe index; (nil, nil)
// when there is none. The reader holds a connection and a snapshot until
// it is closed.
func (db *DB) OpenSavedIndex(ctx context.Context) (io.ReadCloser, error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("open saved index: %w", err)
	}
	r := &indexReader{ctx: ctx, tx: tx}
	err = tx.QueryRow(ctx, `SELECT size, chunks FROM saved_index_head`).Scan(&r.size, &r.chunks)
	if errors.Is(err, pgx.ErrNoRows) {
		tx.Rollback(ctx)
		return nil, nil
	}
	if err != nil {
		tx.Rollback(ctx)
		return nil, fmt.Errorf("open saved index: %w", err)
	}
	return r, nil
}

// indexReader streams the chunks of one saved copy in order. The context
// is kept because io.Reader has no parameter for it; the reader is used
// within the call that opened it.
type indexReader struct {
	ctx    context.Context
	tx     pgx.Tx
	size   int64
	chunks int32
	next   int32 // the next chunk to read
	read   int64
	buf    []byte
	done   bool
}

func (r *indexReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.next == r.chunks {
			if r.read != r.size {
				return 0, fmt.Errorf("saved index: %d bytes in its chunks, head says %d", r.read, r.size)
			}
			return 0, io.EOF
		}
		var chunk []byte
		if err := r.tx.QueryRow(r.ctx, `SELECT chunk FROM saved_index WHERE n = $1`, r.next).Scan(&chunk); err != nil {
			return 0, fmt.Errorf("saved index chunk %d: %w", r.next, err)
		}
		r.next++
		r.read += int64(len(chunk))
		r.buf = chunk
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *indexReader) Close() error {
	if r.done {
		return nil
	}
	r.done = true
	return r.tx.Rollback(context.WithoutCancel(r.ctx))
}

// SaveIndex replaces the saved copy with what write writes, in one
// transaction: a crash leaves the old copy or the new one.
func (db *DB) SaveIndex(ctx context.Context, write func(io.Writer) error) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		// One saver at a time (readers go on): a second one waits, then
		// deletes the first one's copy rather than colliding with it.
		if _, err := tx.Exec(ctx, `LOCK TABLE saved_index_head IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM saved_index; DELETE FROM saved_index_head`); err != nil {
			return err
		}
		w := &indexWriter{ctx: ctx, tx: tx, buf: make([]byte, 0, indexChunk)}
		if err := write(w); err != nil {
			return err
		}
		if err := w.flush(); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO saved_index_head (size, chunks) VALUES ($1, $2)`, w.size, w.n)
		return err
	})
	if err != nil {
		return fmt.Errorf("save dedupe index to %s: %w", db.where, err)
	}
	return nil
}

// indexWriter gathers written bytes into chunks and inserts each full one.
type indexWriter struct {
	ctx  context.Context
	tx   pgx.Tx
	buf  []byte
	n    int32
	size int64
}

func (w *indexWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := min(len(p), indexChunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		written += k
		if len(w.buf) == indexChunk {
			if err := w.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (w *indexWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.tx.Exec(w.ctx, `INSERT INTO saved_index (n, chunk) VALUES ($1, $2)`, w.n, w.buf); err != nil {
		return fmt.Errorf("chunk %d: %w", w.n, err)
	}
	w.n++
	w.size += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}
