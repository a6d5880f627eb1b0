// Wrappers for the parts of ncursesw that Swift cannot import directly
// (macros, shared mutable globals). Keep this file small and free of logic.
#ifndef SLIPWAY_NCURSES_SHIM_H
#define SLIPWAY_NCURSES_SHIM_H
#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <langinfo.h>
#include <wchar.h>
#include <ncursesw/curses.h>

static inline WINDOW *slipway_stdscr(void) { return stdscr; }
static inline int slipway_lines(void) { return LINES; }
static inline int slipway_cols(void) { return COLS; }
static inline int slipway_colors(void) { return COLORS; }
static inline int slipway_color_pairs(void) { return COLOR_PAIRS; }
static inline attr_t slipway_a_bold(void) { return A_BOLD; }
static inline attr_t slipway_a_reverse(void) { return A_REVERSE; }
static inline attr_t slipway_a_underline(void) { return A_UNDERLINE; }
static inline attr_t slipway_a_dim(void) { return A_DIM; }
static inline attr_t slipway_a_normal(void) { return A_NORMAL; }
static inline int slipway_key_code_yes(void) { return KEY_CODE_YES; }
static inline mmask_t slipway_mouse_mask(void) { return BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED; }
static inline int slipway_button1(mmask_t s) { return (s & (BUTTON1_CLICKED | BUTTON1_PRESSED)) != 0; }
static inline int slipway_wheel_up(mmask_t s) { return (s & BUTTON4_PRESSED) != 0; }
static inline int slipway_wheel_down(mmask_t s) { return (s & BUTTON5_PRESSED) != 0; }
static inline const char *slipway_codeset(void) { return nl_langinfo(CODESET); }

/// Draws one cell: a wide-character string (one grapheme) with attributes and a color pair.
static inline int slipway_put(int y, int x, const wchar_t *text, attr_t attrs, short pair) {
    cchar_t cc;
    if (setcchar(&cc, text, attrs, pair, NULL) != OK) return ERR;
    return mvadd_wch(y, x, &cc);
}
#endif
