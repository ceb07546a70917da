"""The `wloadctl` commands by area; each module adds its commands to the parser (register) and
holds their handlers."""
