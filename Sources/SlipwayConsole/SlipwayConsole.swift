/// SlipwayConsole: the full-screen console.
///
/// Layers, one way: a terminal device (ncursesw, or in memory for tests) →
/// a screen buffer of cells, diffed so only changed cells are written →
/// screens, pure functions of ``ConsoleState`` → ``ConsoleState/update(_:)``,
/// which turns events into a new state and effects. Registry reads happen on
/// a background thread (``ConsoleLoader``). It uses the engine (reading through
/// ``RegistryReading``, acting through its services), never the store or the
/// command line.
@_exported import SlipwayEngine
