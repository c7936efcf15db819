/** Minimal types for the untyped `asterisk-manager` 0.2.0 package (used by the benchmark only). */
declare module 'asterisk-manager' {
  interface AsteriskManager {
    on(event: string, listener: (payload: Record<string, unknown>) => void): void;
    connect(port: number, host: string, callback?: () => void): void;
    disconnect(callback?: () => void): void;
  }
  function Manager(port?: number, host?: string, username?: string, password?: string, events?: boolean): AsteriskManager;
  export default Manager;
}
