/* prompt.h — the REPL inside the dashboard: an output pane and a prompt line at the bottom of the
 * curses screen. The line editor is GNU Readline in callback mode (rl_callback_handler_install,
 * rl_callback_read_char), fed one key at a time by the dashboard's key poll and redrawn into curses
 * by our own rl_redisplay_function, so training never waits on the keyboard.
 *
 * Contract between dash.c (owns the screen, the layout and the key poll) and prompt.c:
 *  - dash.c classifies each getch() code: F-keys and Esc-digit are dashboard commands, KEY_RESIZE
 *    is a resize, everything else goes to lctw_dash_prompt_feed;
 *  - dash.c calls lctw_dash_prompt_draw(out, line) inside its batched redraw (no refresh here) and
 *    places the terminal cursor where lctw_dash_prompt_cursor says;
 *  - the Lua loop (lua/lctw/dash.lua) takes complete lines, runs them between two steps, and sends
 *    what they print to lctw_dash_prompt_print.
 */
#ifndef LCTW_DASH_PROMPT_H
#define LCTW_DASH_PROMPT_H

#include "core/status.h"
#include "dash/layout.h"

/* Starts the line editor with prompt text (e.g. "lctw> "). Safe when already open. */
lctw_status lctw_dash_prompt_open(const char *prompt);
/* Removes the callback handler and restores readline's terminal state (safe when not open). */
void lctw_dash_prompt_close(void);
int lctw_dash_prompt_is_open(void);
/* Feeds one curses key code (as returned by getch with keypad on). Returns 1 when a complete
 * line is waiting (take it with lctw_dash_prompt_take), 0 otherwise. */
int lctw_dash_prompt_feed(int ch);
/* The oldest complete line waiting (malloc'd; the caller frees it), or NULL. */
char *lctw_dash_prompt_take(void);
/* Appends text (may contain several lines; a partial last line continues on the next call) to
 * the output pane's scrollback (the last LCTW_DASH_PROMPT_KEEP lines are kept). */
#define LCTW_DASH_PROMPT_KEEP 1000
void lctw_dash_prompt_print(const char *text);
/* Draws the newest lines of the scrollback into out and the prompt line into line (stdscr, no
 * refresh). Either rectangle may have h == 0. */
void lctw_dash_prompt_draw(lctw_dash_rect out, lctw_dash_rect line);
/* Where the terminal cursor belongs after the last draw (screen coordinates); 0 when hidden. */
int lctw_dash_prompt_cursor(int *y, int *x);

/* Additions for the Lua loop (src/lua/l_dash_prompt.c):
 * the prompt text from now on (NULL: the one given to open; ">> " while a chunk continues); */
void lctw_dash_prompt_set(const char *prompt);
/* 1 when the prompt line or the output pane changed since the last draw (a redraw is due); */
int lctw_dash_prompt_dirty(void);
/* the output pane's width at the last draw (80 before the first); */
int lctw_dash_prompt_pane_width(void);
/* the newest n lines of the scrollback (n <= 0: all), each ending in "\n" but an unfinished last
 * one (malloc'd; NULL without memory). */
char *lctw_dash_prompt_scrollback(int n);
/* Keys handled here besides line editing: PgUp/PgDn scroll the output pane. */

#endif
