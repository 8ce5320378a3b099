"""What heurist's data is, apart from how it is stored or served: the vocabulary (kinds,
sections, statuses, modes), the text fields with their limits, the create and update
models, the per-kind field lists and the rules that span fields.

The API, the store, the import, the MCP tools and the CLI all take these from here, so a
kind or a field is defined once. Nothing here touches the database or the network.
"""
