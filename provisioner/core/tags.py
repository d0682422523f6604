"""The tags mfprov puts on everything taggable: what makes a resource a stack's own."""

#: tags mfprov puts on everything taggable; ``find``, adoption and the sweep rely on the stack id and address
TAG_STACK = "mfprov:stack"
TAG_ADDRESS = "mfprov:address"
TAG_MANAGED_BY = "managed-by"
#: the stack's whole identity (name, prefix, suffix, region): two stacks of one name never take each other's
TAG_STACK_ID = "mfprov:stack-id"
