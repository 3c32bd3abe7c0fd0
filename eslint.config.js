// @ts-check
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "tests/**/build/"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    // One system-call layer: only src/sys loads the FFI; everything else calls its typed wrappers.
    files: ["**/*.ts"],
    ignores: ["src/sys/**"],
    rules: {
      "no-restricted-syntax": [
        "error",
        { selector: "Literal[value='koffi']", message: "koffi is used only in src/sys: call (or add) a wrapper there" },
      ],
    },
  },
);
