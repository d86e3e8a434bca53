/* dash.h — the live training dashboard's curses front end (ncursesw).
 *
 * One owner of curses: only this file calls it. The training loop (lua/lctw/dash.lua) pushes each
 * step's metrics, asks for a redraw at most every ~200 ms and polls keys between steps; there is
 * no thread. lctw_dash_close always restores the terminal; it is also registered with atexit so an
 * error that unwinds past the loop (or exit) cannot leave the terminal in curses mode.
 */
#ifndef LCTW_DASH_DASH_H
#define LCTW_DASH_DASH_H

#include "core/status.h"

typedef enum {
    LCTW_DASH_KEY_NONE = 0,
    LCTW_DASH_KEY_QUIT,   /* q, F10 */
    LCTW_DASH_KEY_PAUSE,  /* p, F5: pause / resume */
    LCTW_DASH_KEY_LOGY,   /* l: log-y on the loss chart */
    LCTW_DASH_KEY_HELP,   /* ?, F1: help overlay */
    LCTW_DASH_KEY_RESIZE, /* the terminal changed size */
    LCTW_DASH_KEY_OTHER,
} lctw_dash_key;

/* 1 when a dashboard can be shown: stdout is a terminal and TERM is set and not "dumb". */
int lctw_dash_usable(void);
/* Enters curses mode and clears the series. ascii: ASCII glyphs (also chosen when the locale's
 * character set is not UTF-8). */
lctw_status lctw_dash_open(int ascii);
int lctw_dash_is_open(void);
/* Restores the terminal (safe to call twice or when not open). */
void lctw_dash_close(void);

/* One step's values (non-finite values leave gaps). */
void lctw_dash_push(double loss, double c, double frac_over_c);
/* Redraws every panel. status: the status line; paused: shows [PAUSED]. */
void lctw_dash_draw(const char *status, int paused);
/* Reads one key, waiting up to timeout_ms (0: no wait). Toggles log-y and help itself (and
 * redraws nothing); returns what the key was. */
lctw_dash_key lctw_dash_poll(int timeout_ms);
int lctw_dash_logy(void);

#endif
