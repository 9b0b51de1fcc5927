// Stands in for "@aws-sdk/xml-builder" in the worker bundle (aliased in wrangler.toml and vitest.config.ts).
// The package's "browser" build parses XML with DOMParser, which Workers do not have (aws/aws-sdk-js-v3#7375), and
// bundlers for Workers pick "browser" builds. Its portable parser (plain JavaScript) works in Workers, so this
// module re-exports the package with that parser, imported by file path so that no "browser" mapping applies.
// @ts-expect-error: the package ships no types for its individual files
export { XmlNode } from "../../node_modules/@aws-sdk/xml-builder/dist-es/XmlNode.js";
// @ts-expect-error: as above
export { XmlText } from "../../node_modules/@aws-sdk/xml-builder/dist-es/XmlText.js";
// @ts-expect-error: as above
export { parseXML } from "../../node_modules/@aws-sdk/xml-builder/dist-es/xml-parser.js";
