module github.com/gadgetkit/gadget/plugins/sdk

go 1.26
