// Type declaration for dynalite 4 (the package ships none). Only what this project uses.
declare module 'dynalite' {
  import type { Server } from 'node:http';
  interface DynaliteOptions {
    /** Milliseconds a table stays CREATING (default 500). */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    /** Maximum item size in KB (default 400). */
    maxItemSizeKb?: number;
    /** LevelDB path; in-memory when absent. */
    path?: string;
    ssl?: boolean;
    verbose?: boolean;
    debug?: boolean;
  }
  function dynalite(options?: DynaliteOptions): Server;
  export default dynalite;
}
