// Package pluginpb is the Go code generated from plugins/sdk/goplugin/pluginpb/plugin.proto,
// the gRPC form of the plugin wire contract spoken between gadget and its
// go-plugin subprocesses. Plugins written in Go use plugins/sdk/goplugin
// instead of this package; plugins in other languages generate their own
// code from plugin.proto.
package pluginpb
