/* The Pi's activity LED as a health display: one kernel LED trigger per health state. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "health.h"

#define LED_NAME_MAX     64
#define LED_TRIGGERS_MAX 2048

struct led {
        bool present;
        char name[LED_NAME_MAX];        /* "ACT", "led0" or the configured device */
        char dir[4096];                 /* resolved /sys/class/leds/<name> */
        char offered[LED_TRIGGERS_MAX]; /* the kernel's triggers, space separated */
        char original[LED_NAME_MAX];    /* active trigger found at start, restored on stop */
        char current[LED_NAME_MAX];     /* what we last wrote */
        enum health_state shown;        /* the state CURRENT stands for */
};

/* Finds the LED (device=auto probes ACT, then led0) and reads its triggers. A missing LED is
 * not an error: led->present is false. */
int led_open(struct led *led, const char *root, const struct led_config *cfg);

/* Checks that every configured trigger is one the kernel offers; on failure ERR names the
 * offending key and the offered triggers. Does nothing when the LED is absent or disabled. */
int led_validate(const struct led *led, const struct led_config *cfg, const char *config_path,
                 char *err, size_t errsize);

/* Shows STATE on the LED. UNKNOWN leaves the LED as it is. Returns 1 when the trigger changed. */
int led_show(struct led *led, const struct led_config *cfg, enum health_state state);

/* Puts back the trigger that was active at start. */
int led_restore(struct led *led);

/* The trigger found before netrootd first took the LED, kept in PATH (under /run) so that a
 * netrootd started after a crash does not take its own trigger, still on the LED, for the one to
 * give back. When PATH names this LED and a trigger it offers, that becomes led->original
 * (returns 1); otherwise PATH is written with led->original (returns 0). An absent or disabled
 * LED removes PATH. Negative errno when PATH cannot be written. */
int led_keep_original(struct led *led, const char *path);

/* Removes PATH after a clean stop gave the original back; a missing file is fine. */
int led_forget_original(const char *path);

/* Picks the active trigger out of a sysfs trigger list ("none [mmc0] timer"); copies the list
 * without brackets to OFFERED. Exposed for the unit tests. */
int led_parse_triggers(const char *list, char *active, size_t active_size, char *offered,
                       size_t offered_size);
