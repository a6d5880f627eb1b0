// The shipped themes; a test checks they match the files in themes/.
enum BuiltInThemes {
    static let dark = #"""
# Slipway theme "dark" (the default). One role per line: role = #RRGGBB or `default`
# (the terminal's own colour). Roles: background foreground muted accent selection
# border success warning error series1 series2 series3.
background = default
foreground = #d8dee9
muted      = #7b8394
accent     = #88c0d0
selection  = #3b4252
border     = #4c566a
success    = #a3be8c
warning    = #ebcb8b
error      = #bf616a
series1    = #81a1c1
series2    = #b48ead
series3    = #d08770
"""#

    static let light = #"""
# Slipway theme "light", for light terminal backgrounds.
background = default
foreground = #24292f
muted      = #6e7781
accent     = #0969da
selection  = #d0d7de
border     = #8c959f
success    = #1a7f37
warning    = #9a6700
error      = #cf222e
series1    = #0550ae
series2    = #8250df
series3    = #bc4c00
"""#

    static let highContrast = #"""
# Slipway theme "high-contrast": pure colours on black, for low vision and bright rooms.
background = #000000
foreground = #ffffff
muted      = #c0c0c0
accent     = #00ffff
selection  = #0000ff
border     = #ffffff
success    = #00ff00
warning    = #ffff00
error      = #ff0000
series1    = #00ffff
series2    = #ff00ff
series3    = #ffff00
"""#

    static let monochrome = #"""
# Slipway theme "monochrome": no colours; emphasis by bold and reverse video
# (used automatically when NO_COLOR is set).
background = default
foreground = default
muted      = default
accent     = default
selection  = default
border     = default
success    = default
warning    = default
error      = default
series1    = default
series2    = default
series3    = default
"""#
}
