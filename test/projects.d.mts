export declare const PROJECTS: { name: string; eachFile?: string }[];
