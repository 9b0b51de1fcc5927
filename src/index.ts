// The Worker entry point.
import { createApp } from "./http/app";
import { runtimeFor } from "./runtime";

export default createApp(runtimeFor);
