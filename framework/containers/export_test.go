package containers

// PollDirsForTest exposes pollDirs to the external tests.
var PollDirsForTest = pollDirs

// WatchMountsForTest exposes watchMounts to the external tests.
var WatchMountsForTest = watchMounts
