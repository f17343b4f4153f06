"""Tool use: parsing EXAONE's <tool_call> blocks and BFCL's scoring (single- and multi-turn)."""
