// The Worker entry point.
import { app } from "./http/app";

export default app;
