#include "led.h"
#include "fileio.h"
#include "rootpath.h"
#include "util.h"

#include <sys/stat.h>

/* A sysfs trigger file lists every trigger the kernel has: cpu0…cpuN, mmc, netdev and more. */
#define TRIGGER_FILE_MAX 8192

int led_parse_triggers(const char *list, char *active, size_t active_size, char *offered,
                       size_t offered_size)
{
        size_t used = 0;
        bool found = false;
        const char *p = list;

        active[0] = offered[0] = '\0';
        while (*p) {
                size_t n;
                bool bracketed;

                while (*p == ' ' || *p == '\n')
                        p++;
                if (!*p)
                        break;
                n = strcspn(p, " \n");
                /* "[]" names no trigger: taken as the active one it would be restored as "". */
                bracketed = n > 2 && p[0] == '[' && p[n - 1] == ']';
                if (bracketed) {
                        snprintf(active, active_size, "%.*s", (int)(n - 2), p + 1);
                        found = true;
                }
                if (used + n + 2 > offered_size)
                        return -ENOBUFS;
                used +=
                    (size_t)snprintf(offered + used, offered_size - used, "%s%.*s", used ? " " : "",
                                     (int)(bracketed ? n - 2 : n), p + bracketed);
                p += n;
        }
        return found ? 0 : -ENODATA;
}

static bool trigger_offered(const char *offered, const char *trigger)
{
        size_t n = strlen(trigger);

        for (const char *p = offered; (p = strstr(p, trigger)); p += n)
                if ((p == offered || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                        return true;
        return false;
}

static int led_read_triggers(struct led *led)
{
        _cleanup_free_ char *path = NULL, *list = NULL;
        int r;

        if (asprintf(&path, "%s/trigger", led->dir) < 0)
                return -ENOMEM;
        r = file_read_all(path, TRIGGER_FILE_MAX, &list, NULL);
        if (r < 0)
                return r;
        return led_parse_triggers(list, led->original, sizeof(led->original), led->offered,
                                  sizeof(led->offered));
}

static bool led_dir_exists(const char *dir)
{
        struct stat st;

        return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static int led_try(struct led *led, const char *root, const char *name)
{
        _cleanup_free_ char *dir = root_pathf(root, "/sys/class/leds/%s", name);

        if (!dir)
                return -ENOMEM;
        if (!led_dir_exists(dir))
                return -ENOENT;
        snprintf(led->name, sizeof(led->name), "%s", name);
        snprintf(led->dir, sizeof(led->dir), "%s", dir);
        return 0;
}

int led_open(struct led *led, const char *root, const struct led_config *cfg)
{
        static const char *const candidates[] = {"ACT", "led0"};
        int r = -ENOENT;

        memset(led, 0, sizeof(*led));
        if (!cfg->enabled)
                return 0;
        if (!streq(cfg->device, "auto"))
                r = strchr(cfg->device, '/') ? -EINVAL : led_try(led, root, cfg->device);
        else
                for (size_t i = 0; i < ARRAY_SIZE(candidates) && r < 0; i++)
                        r = led_try(led, root, candidates[i]);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = led_read_triggers(led);
        if (r < 0)
                return r;
        snprintf(led->current, sizeof(led->current), "%s", led->original);
        led->present = true;
        return 0;
}

int led_validate(const struct led *led, const struct led_config *cfg, const char *config_path,
                 char *err, size_t errsize)
{
        const struct {
                const char *key, *value;
        } wanted[] = {{"trigger_ok", cfg->trigger_ok},
                      {"trigger_degraded", cfg->trigger_degraded},
                      {"trigger_failed", cfg->trigger_failed}};

        if (!led->present || !cfg->enabled)
                return 0;
        for (size_t i = 0; i < ARRAY_SIZE(wanted); i++)
                if (!trigger_offered(led->offered, wanted[i].value)) {
                        snprintf(err, errsize,
                                 "%s: [led] %s=%s: LED %s does not offer this trigger; offered: %s",
                                 config_path, wanted[i].key, wanted[i].value, led->name,
                                 led->offered);
                        return -EINVAL;
                }
        return 0;
}

/* The timer trigger blinks; its rate tells the states apart when an admin uses it for more
 * than one state: a calm 1 Hz blink for DEGRADED, a fast 5 Hz flicker for FAILED. */
static void timer_delays(enum health_state state, const char **on, const char **off)
{
        if (state == HEALTH_FAILED) {
                *on = "100";
                *off = "100";
        } else if (state == HEALTH_DEGRADED) {
                *on = "500";
                *off = "500";
        } else {
                *on = "50";
                *off = "1950";
        }
}

static int led_write(struct led *led, const char *file, const char *value)
{
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", led->dir, file) < 0)
                return -ENOMEM;
        return file_write_value(path, value);
}

static int led_set(struct led *led, const char *trigger, enum health_state state)
{
        const char *on, *off;
        int r;

        r = led_write(led, "trigger", trigger);
        if (r < 0)
                return r;
        snprintf(led->current, sizeof(led->current), "%s", trigger);
        led->shown = state;
        if (!streq(trigger, "timer"))
                return 1;
        /* The kernel creates delay_on/delay_off when the timer trigger is set. */
        timer_delays(state, &on, &off);
        r = led_write(led, "delay_on", on);
        if (r >= 0)
                r = led_write(led, "delay_off", off);
        return r < 0 ? r : 1;
}

int led_show(struct led *led, const struct led_config *cfg, enum health_state state)
{
        const char *trigger;

        if (!led->present || !cfg->enabled || state == HEALTH_UNKNOWN)
                return 0;
        trigger = state == HEALTH_OK         ? cfg->trigger_ok
                  : state == HEALTH_DEGRADED ? cfg->trigger_degraded
                                             : cfg->trigger_failed;
        /* The timer trigger's rate differs per state, so a state change may need a rewrite. */
        if (streq(led->current, trigger) && (led->shown == state || !streq(trigger, "timer")))
                return 0;
        return led_set(led, trigger, state);
}

int led_keep_original(struct led *led, const char *path)
{
        _cleanup_free_ char *saved = NULL, *text = NULL;
        char name[LED_NAME_MAX], trigger[LED_NAME_MAX];

        if (!led->present)
                return led_forget_original(path);
        /* file_read_regular: a FIFO or symlink planted at the name is refused, never followed. */
        if (file_read_regular(path, 256, &saved, NULL) >= 0 &&
            sscanf(saved, "%63s %63s", name, trigger) == 2 && streq(name, led->name) &&
            trigger_offered(led->offered, trigger)) {
                snprintf(led->original, sizeof(led->original), "%s", trigger);
                return 1;
        }
        if (asprintf(&text, "%s %s\n", led->name, led->original) < 0)
                return -ENOMEM;
        return file_write_atomic(path, text, strlen(text), 0644);
}

int led_forget_original(const char *path)
{
        return file_remove(path);
}

int led_restore(struct led *led)
{
        int r;

        if (!led->present || streq(led->current, led->original))
                return 0;
        r = led_write(led, "trigger", led->original);
        if (r >= 0)
                snprintf(led->current, sizeof(led->current), "%s", led->original);
        return r;
}
