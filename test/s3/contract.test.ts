// The ObjectStore contract for the S3 adapter and its presigner, against RGW.
import { S3Presigner, S3Store } from "../../src/storage/s3";
import { describeObjectStore } from "../storage/contract";
import { rgwSettings } from "./helpers";

describeObjectStore(
  "S3Store on RGW",
  () => {
    const settings = rgwSettings();
    return { store: new S3Store(settings), presigner: new S3Presigner(settings) };
  },
  { presigner: true },
);
