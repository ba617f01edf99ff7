/* Prometheus text-format metrics for node_exporter's textfile collector. The file usually lives
 * on the root filesystem (/var/lib/prometheus/node-exporter), which is the very thing that may
 * hang, so a writer thread does the I/O: the daemon hands over the latest text and never waits. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "health.h"
#include "strbuf.h"

struct metrics_writer;

struct metrics_sample {
        const struct health *health;
        int session_logged_in; /* 1, 0, or -1 when there is no session to watch */
        int link_up;           /* 1, 0, or -1 when the link is not known */
        uint64_t started_usec; /* CLOCK_REALTIME of the daemon's start */
        uint64_t log_dropped;  /* log records dropped because no reader took them */
};

void metrics_render(const struct metrics_sample *m, struct strbuf *out);

/* Starts the writer thread for PATH (already resolved under --root). */
int metrics_writer_start(const char *path, struct metrics_writer **out);
/* Queues TEXT; a text not yet written is replaced (only the latest matters). Never blocks on
 * the file system. */
void metrics_writer_submit(struct metrics_writer *w, const char *text, size_t len);
/* Number of completed writes and the last error (0 or negative errno), for tests and status. */
void metrics_writer_stats(struct metrics_writer *w, uint64_t *writes, int *last_error);
/* Writes to PATH from the next write on; a write hanging on the old path is not waited for. A
 * reload keeps its one thread this way: a new thread per reload would pile up behind a dead
 * disk, and stopping the old one would make the reload wait for it. */
int metrics_writer_set_path(struct metrics_writer *w, const char *path);
/* Asks the thread to finish without waiting for it; it frees itself when it ends (at once, or
 * when a hung write returns). For a reload that turns the metrics file off. */
void metrics_writer_release(struct metrics_writer *w);
/* Asks the thread to finish; waits at most a second for it (it may be stuck on a dead disk).
 * For the daemon's exit. */
void metrics_writer_stop(struct metrics_writer *w);
