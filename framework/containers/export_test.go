package containers

// PollDirsForTest exposes pollDirs to the external tests.
var PollDirsForTest = pollDirs
