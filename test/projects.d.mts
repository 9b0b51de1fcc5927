export declare const PROJECTS: string[];
