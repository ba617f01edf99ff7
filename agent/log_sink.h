/* Where netrootd's log records go without the daemon ever waiting for a reader. journald writes
 * to the root filesystem and stops reading when that hangs, which is exactly when the daemon must
 * go on showing the root's health; a blocking send would freeze status.json and the LED.
 *
 * Records go to journald's native socket (a socket of our own, non-blocking) or to stderr (sent
 * with MSG_DONTWAIT when it is a socket, as under systemd's StandardError=journal; written on a
 * private non-blocking open file description when it is a pipe or terminal). What the reader does
 * not take at once waits in a bounded queue that the event loop drains; what does not fit there
 * is dropped and counted, and the count is handed to a callback once the queue has drained. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#define LOG_SINK_QUEUE_MAX   32
#define LOG_SINK_QUEUE_BYTES (32 * 1024)
#define LOG_SINK_RETRY_USEC  (250 * 1000ULL)
#define LOG_SINK_JOURNAL     "/run/systemd/journal/socket"

enum log_sink_kind {
        LOG_SINK_DATAGRAM, /* one record = one datagram (journald's native socket) */
        LOG_SINK_SOCKET,   /* stderr is a stream socket: send(MSG_DONTWAIT) */
        LOG_SINK_NONBLOCK, /* stderr is a pipe or terminal, re-opened O_NONBLOCK */
        LOG_SINK_FILE,     /* stderr is a regular file: plain write (a file never says EAGAIN) */
};

struct log_sink_record {
        char *data;
        size_t len;
        size_t done; /* bytes a stream already took */
};

struct log_sink {
        enum log_sink_kind kind;
        int fd;
        bool own_fd;
        char path[108]; /* LOG_SINK_DATAGRAM: reconnected after journald restarts */
        struct log_sink_record queue[LOG_SINK_QUEUE_MAX];
        unsigned head, count;
        size_t queued_bytes;
        uint64_t sent;
        uint64_t dropped;            /* since start */
        uint64_t dropped_unreported; /* not yet handed to DRAINED */
        sd_event_source *retry;
        /* Called when the queue is empty again after drops, with the number dropped since the
         * last call; it may write to the sink. */
        void (*drained)(void *userdata, uint64_t dropped);
        void *userdata;
};

/* journald's native socket at PATH (LOG_SINK_JOURNAL). A journald that is not there yet is not
 * an error: records wait in the queue and the socket is connected again on each retry. */
int log_sink_open_journal(struct log_sink *s, const char *path);

/* Standard error, in the way that never waits for its reader (see the kinds above). */
int log_sink_open_stderr(struct log_sink *s);

/* Sends one record (a journal entry, or one line with its newline) or queues it; drops and
 * counts it when the queue is full. Never waits. */
void log_sink_write(struct log_sink *s, const void *data, size_t len);

/* Sends what is queued, as far as the reader takes it; returns the records still queued. */
unsigned log_sink_flush(struct log_sink *s);

/* Retries a non-empty queue from E every LOG_SINK_RETRY_USEC. */
int log_sink_attach_event(struct log_sink *s, sd_event *e);

/* Tries once more without waiting, then drops what is left; closes what it opened. */
void log_sink_close(struct log_sink *s);
