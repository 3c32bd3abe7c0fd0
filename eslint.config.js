// @ts-check
import tseslint from "typescript-eslint";

const KOFFI = {
  selector: "Literal[value='koffi']",
  message: "koffi is used only in src/sys: call (or add) a wrapper there",
};

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "tests/**/build/"] },
  ...tseslint.configs.recommended,
  {
    // The CLI's entry is CommonJS (bin/package.json): Node starts it without its ES module loader.
    files: ["bin/*.js"],
    languageOptions: { sourceType: "commonjs" },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
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
      "no-restricted-syntax": ["error", KOFFI],
    },
  },
  {
    // Layers: the command line and the API sit on top of the modules, never under them. The
    // argument parser every command line shares is src/args.ts, not the CLI's.
    files: ["src/**/*.ts"],
    ignores: ["src/cli/**", "src/bench/**", "src/entry.ts", "src/**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["**/cli/*", "**/cli/**"], message: "a module must not depend on the CLI (src/cli)" }] },
      ],
    },
  },
  // Codes are typed per module (src/<module>/errors.ts, or a union beside the code, as
  // vm/spec.ts's): a literal code given to the generic class would escape the compiler's check.
  ...[
    { files: ["src/**/*.ts"], ignores: ["src/sys/**"], koffi: true },
    { files: ["src/sys/**/*.ts"], ignores: [], koffi: false },
  ].map(({ files, ignores, koffi }) => ({
    files,
    ignores: [...ignores, "**/*.test.ts", "src/**/testing/**"],
    rules: {
      "no-restricted-syntax": [
        "error",
        ...(koffi ? [KOFFI] : []),
        {
          selector:
            "NewExpression[callee.name=/^(CorralError|FieldError)$/]:not([typeArguments]) > Literal.arguments:first-child",
          message: "throw the module's error class (src/<module>/errors.ts, e.g. DiskError) or a CorralError<ItsCode>",
        },
      ],
    },
  })),
);
