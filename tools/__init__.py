"""The tools around the product: the command line, the development supervisor, the local mail
catcher and where the Temporal binaries are. The top layer: nothing in the product imports them."""
