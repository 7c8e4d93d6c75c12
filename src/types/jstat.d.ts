// jstat ships no types; only what stats.ts uses is declared.
declare module 'jstat' {
  export const jStat: {
    normal: { inv(p: number, mean: number, sd: number): number };
    beta: { inv(p: number, a: number, b: number): number };
    studentt: { inv(p: number, dof: number): number };
    chisquare: { inv(p: number, dof: number): number };
    ibeta(x: number, a: number, b: number): number;
  };
}
