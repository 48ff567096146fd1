"""CDK constructs that deploy idnode: one module per capability, composed by `stack`."""
