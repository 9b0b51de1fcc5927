import { MemoryStore } from "../../src/storage/memory";
import { describeObjectStore } from "./contract";

describeObjectStore("MemoryStore", () => ({ store: new MemoryStore() }));
